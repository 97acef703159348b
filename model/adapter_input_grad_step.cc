#include "model/adapter_input_grad_step.h"

#include <algorithm>

#include <glog/logging.h>

namespace iak::model {

StepStats AdapterInputGradStep::Run(const BaseModel& base, const IakModule& adapter,
                                    IakPhase phase, float beta, const float* x, int batch,
                                    const float* click, const float* conversion,
                                    const float* eps, float* grads, float* dx) {
  const BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.h_dim()) << "the adapter must sit on h";
  const size_t nh = static_cast<size_t>(batch) * c.h_dim();
  const size_t nl = static_cast<size_t>(batch) * c.num_tasks;
  h_.resize(nh);
  h_adapted_.resize(nh);
  dh_adapted_.resize(nh);
  dh_.resize(nh);
  logits_.resize(nl);
  dlogits_.resize(nl);
  base.ForwardBottom(x, batch, h_.data(), &base_ws_);
  const double kl_sum = adapter.TrainForward(h_.data(), batch, eps, h_adapted_.data(), &iak_ws_);
  base.ForwardTowers(h_adapted_.data(), batch, logits_.data(), &base_ws_);
  const StepStats stats = AdapterStepStats(logits_.data(), batch, c.num_tasks, click, conversion,
                                           kl_sum, beta, dlogits_.data());
  base.BackwardTowers(dlogits_.data(), batch, dh_adapted_.data(), /*param_grads=*/nullptr,
                      &base_ws_);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(dh_adapted_.data(), beta, batch, phase, grads, dh_.data(), &iak_ws_);
  base.BackwardBottom(dh_.data(), batch, dx, /*param_grads=*/nullptr, &base_ws_);
  return stats;
}

}  // namespace iak::model
