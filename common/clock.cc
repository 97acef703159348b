#include "common/clock.h"

namespace iak {

const Clock* RealClock::Get() {
  static const RealClock clock;
  return &clock;
}

}  // namespace iak
