#include "job/adapter_insertion.h"

namespace iak::job {

const char* AdapterInsertionName(AdapterInsertion insertion) {
  switch (insertion) {
    case AdapterInsertion::kH: return "h";
    case AdapterInsertion::kX: return "x";
    case AdapterInsertion::kTower: return "tower";
  }
  return "?";
}

StatusOr<AdapterInsertion> ParseAdapterInsertion(const std::string& name) {
  if (name.empty() || name == "h") return AdapterInsertion::kH;
  if (name == "x") return AdapterInsertion::kX;
  if (name == "tower") return AdapterInsertion::kTower;
  return InvalidArgumentError("unknown adapter insertion '" + name + "'; choose h, x or tower");
}

}  // namespace iak::job
