#ifndef IAK_MODEL_WHOLE_MODEL_ADAPTER_STEP_H_
#define IAK_MODEL_WHOLE_MODEL_ADAPTER_STEP_H_

#include <vector>

#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"

namespace iak::model {

// One training step of an adapter run through the whole frozen model, from
// the pooled input x to the loss, for the two cases that need it:
//   an adapter on x (insertion "x"): x' = x + adapter(x) -> frozen bottom ->
//     frozen towers -> task loss; back through the towers, the bottom (input
//     gradient only) and the adapter;
//   an adapter on h whose embedding rows train below the bottom (new-key
//     rows, worker/new_key_rows.h): h = frozen bottom(x) -> h' = adapter(h)
//     -> frozen towers -> task loss; back through the towers, the adapter
//     (its gradients, and dh with the residual path) and the bottom to dx.
// The adapter's gradients equal those of FineTuneStep / the CPU engine for
// the same eps; nothing is computed for the frozen weights.
// Thread-safety: one caller at a time (owns its scratch); base and adapter
// are only read.
class WholeModelAdapterStep {
 public:
  // The adapter sits on x when `adapter_on_x` (its config().input_dim is then
  // base.config().input_dim()), else on h (h_dim()). eps [batch x
  // latent_dim] (IakModule::DrawEps; ignored by a plain adapter); conversion
  // as in FineTuneStep::Run. Overwrites grads (layout of adapter.params())
  // with the gradient of task loss + beta * mean KL, and dx (may be null) with
  // that loss's gradient w.r.t. x [batch x input_dim], the residual path
  // included. ctr_offset [batch] (may be null) is added to the CTR logit
  // before the loss (key biases, worker/key_biases.h); dlogits() then holds
  // the loss's gradient w.r.t. the logits, which is also its gradient
  // w.r.t. the offsets (column 0).
  StepStats Run(const BaseModel& base, const IakModule& adapter, bool adapter_on_x,
                IakPhase phase, float beta, const float* x, int batch, const float* click,
                const float* conversion, const float* eps, float* grads, float* dx = nullptr,
                const float* ctr_offset = nullptr);
  // Run with the adapter on h from a given h (the frozen bottom's output,
  // e.g. kept by the frozen-prefix cache): the same step without the
  // bottom's forward and without dx.
  StepStats RunOnH(const BaseModel& base, const IakModule& adapter, IakPhase phase, float beta,
                   const float* h, int batch, const float* click, const float* conversion,
                   const float* eps, float* grads, const float* ctr_offset = nullptr);
  // The frozen bottom's output h [batch x h_dim] for x, as Run computes it
  // (what RunOnH takes).
  void ForwardBottom(const BaseModel& base, const float* x, int batch, float* h);
  // Inference (z = mu); p_ctcvr only for a two-task base (may be null);
  // ctr_offset as in Run.
  void Predict(const BaseModel& base, const IakModule& adapter, bool adapter_on_x,
               const float* x, int batch, float* p_ctr, float* p_ctcvr,
               const float* ctr_offset = nullptr);
  // [batch x num_tasks] of the last Run.
  const float* dlogits() const { return dlogits_.data(); }

 private:
  // Sizes the activations for `batch` rows (grown to the largest batch seen).
  void Resize(const BaseModelConfig& config, int batch);
  // Above the bottom, with the adapter on h: h (its forward output) ->
  // adapter -> towers -> loss (the offsets on the CTR logit) and back to
  // dh_ (the loss's gradient w.r.t. h) and the adapter's grads.
  StepStats StepAboveH(const BaseModel& base, const IakModule& adapter, IakPhase phase,
                       float beta, const float* h, int batch, const float* click,
                       const float* conversion, const float* eps, float* grads,
                       const float* ctr_offset);

  BaseModelWorkspace base_ws_;
  IakWorkspace iak_ws_;
  // x_adapted_ / dx_adapted_ [batch x input_dim] (adapter on x);
  // h_ / h_adapted_ / dh_ / dh_adapted_ [batch x h_dim];
  // logits_ / dlogits_ [batch x num_tasks].
  std::vector<float> x_adapted_, dx_adapted_, h_, h_adapted_, dh_, dh_adapted_;
  std::vector<float> logits_, dlogits_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_WHOLE_MODEL_ADAPTER_STEP_H_
