#include "model/adapter_input_grad_step.h"

#include <glog/logging.h>

#include <algorithm>

namespace iak::model {

StepStats AdapterInputGradStep::Run(const BaseModel& base, const IakModule& adapter, IakPhase phase,
                                    float beta, const float* x, int batch, const float* click,
                                    const float* conversion, const float* eps, float* grads,
                                    float* dx) {
  const BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.h_dim()) << "the adapter must sit on h";
  s_.Resize(c, batch, /*adapter_on_x=*/false);
  base.ForwardBottom(x, batch, s_.h.data(), &s_.base_ws);
  const double kl_sum =
      adapter.TrainForward(s_.h.data(), batch, eps, s_.h_adapted.data(), &s_.iak_ws);
  base.ForwardTowers(s_.h_adapted.data(), batch, s_.logits.data(), &s_.base_ws);
  const StepStats stats = AdapterStepStats(s_.logits.data(), batch, c.num_tasks, click, conversion,
                                           kl_sum, beta, s_.dlogits.data());
  base.BackwardTowers(s_.dlogits.data(), batch, s_.dh_adapted.data(),
                      /*param_grads=*/nullptr, &s_.base_ws);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(s_.dh_adapted.data(), beta, batch, phase, grads, s_.dh.data(), &s_.iak_ws);
  base.BackwardBottom(s_.dh.data(), batch, dx, /*param_grads=*/nullptr, &s_.base_ws);
  return stats;
}

}  // namespace iak::model
