#include "model/input_adapter_step.h"

#include <algorithm>

#include <glog/logging.h>

#include "model/loss.h"
#include "model/matrix_ops.h"

namespace iak::model {

StepStats InputAdapterStep::Run(const BaseModel& base,
                                       const IakModule& adapter, IakPhase phase,
                                       float beta, const float* x, int batch, const float* click,
                                       const float* conversion, const float* eps, float* grads,
                                       float* dx_in) {
  const BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.input_dim()) << "the adapter must sit on x";
  const size_t nx = static_cast<size_t>(batch) * c.input_dim();
  const size_t nh = static_cast<size_t>(batch) * c.h_dim();
  const size_t nl = static_cast<size_t>(batch) * c.num_tasks;
  x_adapted_.resize(nx);
  dx_.resize(nx);
  h_.resize(nh);
  dh_.resize(nh);
  logits_.resize(nl);
  dlogits_.resize(nl);
  const double kl_sum = adapter.TrainForward(x, batch, eps, x_adapted_.data(), &iak_ws_);
  base.ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
  base.ForwardTowers(h_.data(), batch, logits_.data(), &base_ws_);
  const StepStats stats = AdapterStepStats(logits_.data(), batch, c.num_tasks, click, conversion,
                                           kl_sum, beta, dlogits_.data());
  base.BackwardTowers(dlogits_.data(), batch, dh_.data(), /*param_grads=*/nullptr, &base_ws_);
  base.BackwardBottom(dh_.data(), batch, dx_.data(), /*param_grads=*/nullptr, &base_ws_);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(dx_.data(), beta, batch, phase, grads, dx_in, &iak_ws_);
  return stats;
}

void InputAdapterStep::Predict(const BaseModel& base, const IakModule& adapter,
                               const float* x, int batch, float* p_ctr, float* p_ctcvr) {
  const BaseModelConfig& c = base.config();
  const int tasks = c.num_tasks;
  CHECK(p_ctcvr == nullptr || tasks == 2) << "pCTCVR needs a two-task (ESMM) base model";
  x_adapted_.resize(static_cast<size_t>(batch) * c.input_dim());
  h_.resize(static_cast<size_t>(batch) * c.h_dim());
  logits_.resize(static_cast<size_t>(batch) * tasks);
  adapter.Infer(x, batch, x_adapted_.data(), &iak_ws_);
  base.ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
  base.ForwardTowers(h_.data(), batch, logits_.data(), &base_ws_);
  TaskProbabilities(logits_.data(), batch, tasks, p_ctr, p_ctcvr);
}

}  // namespace iak::model
