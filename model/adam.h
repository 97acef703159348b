// Adam over a flat parameter span (Kingma & Ba), with bias correction.
//
// One Adam object per flat vector (e.g. one IAK module). Step() may be limited
// to a set of ParamRanges: entries outside them keep both their value and
// their moment estimates, which is how a frozen encoder stays untouched in the
// matching phase. The step counter is global to the object.
//
// Thread-safety: none; one thread at a time.
#ifndef IAK_MODEL_ADAM_H_
#define IAK_MODEL_ADAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/param_range.h"

namespace iak::model {

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
};

class Adam {
 public:
  Adam(size_t num_params, const AdamOptions& options);

  // One update of every parameter: params -= lr * m_hat / (sqrt(v_hat) + eps).
  void Step(float* params, const float* grads);
  // The same, restricted to `ranges` (each inside [0, num_params)).
  void Step(float* params, const float* grads,
            const std::vector<ParamRange>& ranges);

  size_t num_params() const { return m_.size(); }
  int64_t step() const { return step_; }
  const AdamOptions& options() const { return options_; }
  // Learning rate for the following steps (schedules, batch-aware scaling).
  void set_lr(float lr) { options_.lr = lr; }

  // Options, step counter and moments.
  std::string Serialize() const;
  // DataLoss on a truncated or corrupt blob, or one sized for a different
  // number of parameters. On error *this is unchanged.
  Status Deserialize(std::string_view blob);

 private:

  AdamOptions options_;
  int64_t step_ = 0;
  std::vector<float> m_;
  std::vector<float> v_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_ADAM_H_
