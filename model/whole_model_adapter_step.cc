#include "model/whole_model_adapter_step.h"

#include <algorithm>

#include <glog/logging.h>

#include "model/loss.h"

namespace iak::model {

void WholeModelAdapterStep::Resize(const BaseModelConfig& c, int batch) {
  const size_t b = static_cast<size_t>(batch);
  for (std::vector<float>* v : {&x_adapted_, &dx_adapted_}) v->resize(b * c.input_dim());
  for (std::vector<float>* v : {&h_, &h_adapted_, &dh_, &dh_adapted_}) v->resize(b * c.h_dim());
  logits_.resize(b * c.num_tasks);
  dlogits_.resize(b * c.num_tasks);
}

StepStats WholeModelAdapterStep::Run(const BaseModel& base, const IakModule& adapter,
                                     bool adapter_on_x, IakPhase phase, float beta,
                                     const float* x, int batch, const float* click,
                                     const float* conversion, const float* eps, float* grads,
                                     float* dx, const float* ctr_offset) {
  const BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, adapter_on_x ? c.input_dim() : c.h_dim())
      << "the adapter must sit on " << (adapter_on_x ? "x" : "h");
  Resize(c, batch);
  if (!adapter_on_x) {
    base.ForwardBottom(x, batch, h_.data(), &base_ws_);
    const StepStats stats = StepAboveH(base, adapter, phase, beta, h_.data(), batch, click,
                                       conversion, eps, grads, ctr_offset);
    if (dx != nullptr) {
      base.BackwardBottom(dh_.data(), batch, dx, /*param_grads=*/nullptr, &base_ws_);
    }
    return stats;
  }
  const double kl_sum = adapter.TrainForward(x, batch, eps, x_adapted_.data(), &iak_ws_);
  base.ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
  base.ForwardTowers(h_.data(), batch, logits_.data(), &base_ws_);
  AddCtrLogitOffset(ctr_offset, batch, c.num_tasks, logits_.data());
  const StepStats stats = AdapterStepStats(logits_.data(), batch, c.num_tasks, click, conversion,
                                           kl_sum, beta, dlogits_.data());
  std::fill_n(grads, adapter.num_params(), 0.0f);
  base.BackwardTowers(dlogits_.data(), batch, dh_.data(), /*param_grads=*/nullptr, &base_ws_);
  base.BackwardBottom(dh_.data(), batch, dx_adapted_.data(), /*param_grads=*/nullptr, &base_ws_);
  adapter.TrainBackward(dx_adapted_.data(), beta, batch, phase, grads, dx, &iak_ws_);
  return stats;
}

StepStats WholeModelAdapterStep::RunOnH(const BaseModel& base, const IakModule& adapter,
                                        IakPhase phase, float beta, const float* h, int batch,
                                        const float* click, const float* conversion,
                                        const float* eps, float* grads,
                                        const float* ctr_offset) {
  CHECK_EQ(adapter.config().input_dim, base.config().h_dim()) << "the adapter must sit on h";
  Resize(base.config(), batch);
  return StepAboveH(base, adapter, phase, beta, h, batch, click, conversion, eps, grads,
                    ctr_offset);
}

void WholeModelAdapterStep::ForwardBottom(const BaseModel& base, const float* x, int batch,
                                          float* h) {
  Resize(base.config(), batch);
  base.ForwardBottom(x, batch, h, &base_ws_);
}

StepStats WholeModelAdapterStep::StepAboveH(const BaseModel& base, const IakModule& adapter,
                                            IakPhase phase, float beta, const float* h,
                                            int batch, const float* click,
                                            const float* conversion, const float* eps,
                                            float* grads, const float* ctr_offset) {
  const BaseModelConfig& c = base.config();
  const double kl_sum = adapter.TrainForward(h, batch, eps, h_adapted_.data(), &iak_ws_);
  base.ForwardTowers(h_adapted_.data(), batch, logits_.data(), &base_ws_);
  AddCtrLogitOffset(ctr_offset, batch, c.num_tasks, logits_.data());
  const StepStats stats = AdapterStepStats(logits_.data(), batch, c.num_tasks, click, conversion,
                                           kl_sum, beta, dlogits_.data());
  std::fill_n(grads, adapter.num_params(), 0.0f);
  base.BackwardTowers(dlogits_.data(), batch, dh_adapted_.data(), /*param_grads=*/nullptr,
                      &base_ws_);
  adapter.TrainBackward(dh_adapted_.data(), beta, batch, phase, grads, dh_.data(), &iak_ws_);
  return stats;
}

void WholeModelAdapterStep::Predict(const BaseModel& base, const IakModule& adapter,
                                    bool adapter_on_x, const float* x, int batch, float* p_ctr,
                                    float* p_ctcvr, const float* ctr_offset) {
  const BaseModelConfig& c = base.config();
  CHECK(p_ctcvr == nullptr || c.num_tasks == 2) << "pCTCVR needs a two-task (ESMM) base model";
  Resize(c, batch);
  const float* h = h_.data();
  if (adapter_on_x) {
    adapter.Infer(x, batch, x_adapted_.data(), &iak_ws_);
    base.ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
  } else {
    base.ForwardBottom(x, batch, h_.data(), &base_ws_);
    adapter.Infer(h_.data(), batch, h_adapted_.data(), &iak_ws_);
    h = h_adapted_.data();
  }
  base.ForwardTowers(h, batch, logits_.data(), &base_ws_);
  AddCtrLogitOffset(ctr_offset, batch, c.num_tasks, logits_.data());
  TaskProbabilities(logits_.data(), batch, c.num_tasks, p_ctr, p_ctcvr);
}

}  // namespace iak::model
