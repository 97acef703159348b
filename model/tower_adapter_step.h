#ifndef IAK_MODEL_TOWER_ADAPTER_STEP_H_
#define IAK_MODEL_TOWER_ADAPTER_STEP_H_

#include <vector>

#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/mlp.h"

namespace iak::model {

// An adapter on the CTR tower's first hidden layer
// (insertion point "tower"), from h (the frozen bottom's output):
//   a = ReLU(first layer of tower 0 (h)); a' = a + adapter(a);
//   logit_0 = rest of tower 0 (a'); logit_t = tower t (h) for t > 0.
// The adapter's config().input_dim must be base.config().tower_hidden[0].
class TowerAdapterStep {
 public:
  // True when `base` has a tower hidden layer to adapt.
  static bool Supports(const BaseModelConfig& config) {
    return !config.tower_hidden.empty();
  }
  StepStats Run(const BaseModel& base, const IakModule& adapter,
                       IakPhase phase, float beta, const float* h, int batch,
                       const float* click, const float* conversion, const float* eps,
                       float* grads);
  void Predict(const BaseModel& base, const IakModule& adapter, const float* h,
               int batch, float* p_ctr, float* p_ctcvr);

 private:
  // Logits of the batch into logits_ (eps null: inference); returns the KL sum.
  double Forward(const BaseModel& base, const IakModule& adapter, const float* h,
                 int batch, const float* eps);
  void Bind(const BaseModel& base);

  std::vector<Mlp> first_, rest_, others_;  // 0 or 1 each; towers 1..
  MlpWorkspace first_ws_, rest_ws_;
  std::vector<MlpWorkspace> others_ws_;
  IakWorkspace iak_ws_;
  std::vector<float> a_, a_adapted_, da_, column_, logits_, dlogits_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_TOWER_ADAPTER_STEP_H_
