#include "scheduler/phase_name.h"

namespace iak::scheduler {

const char* PhaseName(proto::Phase phase, const char* unset) {
  switch (phase) {
    case proto::PHASE_COMPRESSION:
      return "compression";
    case proto::PHASE_MATCHING:
      return "matching";
    case proto::PHASE_FINISHED:
      return "finished";
    default:
      return unset;
  }
}

}  // namespace iak::scheduler
