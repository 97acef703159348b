// CheckFinite: the guard against a diverged training run. A learning rate
// that passes validation can still diverge at run time (and the data decide
// when); without a check the loss becomes NaN, the adapters fill with NaN and
// the job still reports success. Callers check what they are about to
// publish (a step's loss, parameters before they are saved or all-reduced)
// and fail with the Status this returns.
//
// Thread-safety: a pure function.
#ifndef IAK_MODEL_FINITE_CHECK_H_
#define IAK_MODEL_FINITE_CHECK_H_

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace iak::model {

// Ok when every one of values[0..n) is finite. Otherwise a
// FailedPrecondition error "<what>: training diverged: value <i> of <n> is
// nan (<k> non-finite); lower the learning rate (phases[].learning_rate) or
// beta and rerun", where `what` names the thing (e.g. "adapter of domain
// 2012-2016"). O(n), one pass, no allocation.
[[nodiscard]] Status CheckFinite(const float* values, size_t n, std::string_view what);

// The same for one number (a step's loss).
[[nodiscard]] Status CheckFinite(double value, std::string_view what);

}  // namespace iak::model

#endif  // IAK_MODEL_FINITE_CHECK_H_
