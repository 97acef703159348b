#include "model/finite_check.h"

#include <cmath>
#include <string>

namespace iak::model {
namespace {

Status Diverged(std::string_view what, const std::string& detail) {
  return FailedPreconditionError(std::string(what) + ": training diverged: " + detail +
                                 "; lower the learning rate (phases[].learning_rate) or beta "
                                 "and rerun (docs/job_spec.md)");
}

}  // namespace

Status CheckFinite(const float* values, size_t n, std::string_view what) {
  size_t bad = 0;
  size_t first = n;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad == 0) return Status::Ok();
  return Diverged(what, "value " + std::to_string(first) + " of " + std::to_string(n) + " is " +
                            (std::isnan(values[first]) ? "nan" : "infinite") + " (" +
                            std::to_string(bad) + " non-finite)");
}

Status CheckFinite(double value, std::string_view what) {
  if (std::isfinite(value)) return Status::Ok();
  return Diverged(what, std::string("the value is ") + (std::isnan(value) ? "nan" : "infinite"));
}

}  // namespace iak::model
