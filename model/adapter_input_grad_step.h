#ifndef IAK_MODEL_ADAPTER_INPUT_GRAD_STEP_H_
#define IAK_MODEL_ADAPTER_INPUT_GRAD_STEP_H_

#include "model/adapter_step_scratch.h"
#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"

namespace iak::model {

// One training step of an adapter on h (the default insertion point) that
// also hands back the gradient w.r.t. the pooled input x, for embedding rows
// trained below the frozen bottom (worker/new_key_rows.h):
//   h = frozen bottom(x) -> h' = adapter(h) -> frozen towers -> task loss ->
//   dh' through the towers -> adapter backward (its gradients, and dh, which
//   includes the residual path) -> dx through the bottom (input gradient).
// The adapter's gradients equal those of FineTuneStep / the CPU engine for
// the same eps; nothing is computed for the frozen weights.
// Thread-safety: one caller at a time (owns its scratch); base and adapter
// are only read.
class AdapterInputGradStep {
 public:
  // eps [batch x latent_dim] (ignored by a plain adapter); conversion as in
  // FineTuneStep::Run. Overwrites grads (layout of adapter.params()) with the
  // gradient of task loss + beta * mean KL, and dx [batch x input_dim] with
  // that loss's gradient w.r.t. x.
  StepStats Run(const BaseModel& base, const IakModule& adapter, IakPhase phase, float beta,
                const float* x, int batch, const float* click, const float* conversion,
                const float* eps, float* grads, float* dx);

 private:
  AdapterStepScratch s_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_ADAPTER_INPUT_GRAD_STEP_H_
