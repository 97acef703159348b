#ifndef IAK_MODEL_INPUT_ADAPTER_STEP_H_
#define IAK_MODEL_INPUT_ADAPTER_STEP_H_

#include "model/adapter_step_scratch.h"
#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"

namespace iak::model {

// One training step of an adapter on the pooled input x (insertion point "x"):
//   x' = x + adapter(x) -> frozen bottom -> frozen towers -> task loss ->
//   dh through the towers -> dx' through the bottom (input gradient only) ->
//   adapter backward with beta * KL.
// Nothing is computed for the frozen weights' gradients. The adapter's
// config().input_dim must be base.config().input_dim().
// Thread-safety: one caller at a time (owns its scratch); base and adapter
// are only read.
class InputAdapterStep {
 public:
  // eps [batch x latent_dim] (IakModule::DrawEps; ignored by a plain adapter);
  // conversion as in FineTuneStep::Run. Overwrites grads (layout of
  // adapter.params()) with the gradient of task loss + beta * mean KL.
  // dx_in (may be null): that loss's gradient w.r.t. x [batch x input_dim],
  // the residual path included, for embedding rows trained below the adapter
  // (worker/new_key_rows.h).
  StepStats Run(const BaseModel& base, const IakModule& adapter, IakPhase phase, float beta,
                const float* x, int batch, const float* click, const float* conversion,
                const float* eps, float* grads, float* dx_in = nullptr);
  // Inference (z = mu); p_ctcvr only for a two-task base (may be null).
  void Predict(const BaseModel& base, const IakModule& adapter, const float* x, int batch,
               float* p_ctr, float* p_ctcvr);

 private:
  AdapterStepScratch s_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_INPUT_ADAPTER_STEP_H_
