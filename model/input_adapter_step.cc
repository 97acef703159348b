#include "model/input_adapter_step.h"

#include <glog/logging.h>

#include <algorithm>

#include "model/loss.h"
#include "model/matrix_ops.h"

namespace iak::model {

StepStats InputAdapterStep::Run(const BaseModel& base, const IakModule& adapter, IakPhase phase,
                                float beta, const float* x, int batch, const float* click,
                                const float* conversion, const float* eps, float* grads,
                                float* dx_in) {
  const BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.input_dim()) << "the adapter must sit on x";
  s_.Resize(c, batch, /*adapter_on_x=*/true);
  const double kl_sum = adapter.TrainForward(x, batch, eps, s_.x_adapted.data(), &s_.iak_ws);
  base.ForwardBottom(s_.x_adapted.data(), batch, s_.h.data(), &s_.base_ws);
  base.ForwardTowers(s_.h.data(), batch, s_.logits.data(), &s_.base_ws);
  const StepStats stats = AdapterStepStats(s_.logits.data(), batch, c.num_tasks, click, conversion,
                                           kl_sum, beta, s_.dlogits.data());
  base.BackwardTowers(s_.dlogits.data(), batch, s_.dh.data(),
                      /*param_grads=*/nullptr, &s_.base_ws);
  base.BackwardBottom(s_.dh.data(), batch, s_.dx.data(),
                      /*param_grads=*/nullptr, &s_.base_ws);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(s_.dx.data(), beta, batch, phase, grads, dx_in, &s_.iak_ws);
  return stats;
}

void InputAdapterStep::Predict(const BaseModel& base, const IakModule& adapter, const float* x,
                               int batch, float* p_ctr, float* p_ctcvr) {
  const BaseModelConfig& c = base.config();
  const int tasks = c.num_tasks;
  CHECK(p_ctcvr == nullptr || tasks == 2) << "pCTCVR needs a two-task (ESMM) base model";
  s_.Resize(c, batch, /*adapter_on_x=*/true);
  adapter.Infer(x, batch, s_.x_adapted.data(), &s_.iak_ws);
  base.ForwardBottom(s_.x_adapted.data(), batch, s_.h.data(), &s_.base_ws);
  base.ForwardTowers(s_.h.data(), batch, s_.logits.data(), &s_.base_ws);
  TaskProbabilities(s_.logits.data(), batch, tasks, p_ctr, p_ctcvr);
}

}  // namespace iak::model
