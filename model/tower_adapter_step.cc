#include "model/tower_adapter_step.h"

#include <algorithm>

#include <glog/logging.h>

#include "model/loss.h"
#include "model/matrix_ops.h"

namespace iak::model {

void TowerAdapterStep::Bind(const BaseModel& base) {
  const BaseModelConfig& c = base.config();
  CHECK(Supports(c)) << "the base model's towers have no hidden layer to adapt";
  if (first_.empty()) {
    std::vector<int> rest{c.tower_hidden.begin(), c.tower_hidden.end()};
    rest.push_back(1);
    first_.emplace_back(std::vector<int>{c.h_dim(), c.tower_hidden.front()},
                        Activation::kRelu);
    rest_.emplace_back(rest, Activation::kNone);
    std::vector<int> full{c.h_dim()};
    full.insert(full.end(), c.tower_hidden.begin(), c.tower_hidden.end());
    full.push_back(1);
    for (int t = 1; t < c.num_tasks; ++t) others_.emplace_back(full, Activation::kNone);
    others_ws_.resize(others_.size());
  }
  // Tower t's layers are stored in order inside tower_param_range(t).
  const float* tower0 = base.params().data() + base.tower_param_range(0).begin;
  first_[0].Bind(tower0);
  rest_[0].Bind(tower0 + first_[0].num_params());
  CHECK_EQ(first_[0].num_params() + rest_[0].num_params(), base.tower_param_range(0).size());
  for (size_t t = 0; t < others_.size(); ++t) {
    others_[t].Bind(base.params().data() + base.tower_param_range(static_cast<int>(t) + 1).begin);
  }
}

double TowerAdapterStep::Forward(const BaseModel& base, const IakModule& adapter,
                                 const float* h, int batch, const float* eps) {
  Bind(base);
  const BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.tower_hidden.front())
      << "the adapter must sit on the tower's hidden layer";
  const int tasks = c.num_tasks;
  const size_t na = static_cast<size_t>(batch) * c.tower_hidden.front();
  a_.resize(na);
  a_adapted_.resize(na);
  column_.resize(batch);
  logits_.resize(static_cast<size_t>(batch) * tasks);
  first_[0].Forward(h, batch, a_.data(), &first_ws_);
  double kl_sum = 0;
  if (eps != nullptr) {
    kl_sum = adapter.TrainForward(a_.data(), batch, eps, a_adapted_.data(), &iak_ws_);
  } else {
    adapter.Infer(a_.data(), batch, a_adapted_.data(), &iak_ws_);
  }
  rest_[0].Forward(a_adapted_.data(), batch, column_.data(), &rest_ws_);
  for (int r = 0; r < batch; ++r) logits_[static_cast<size_t>(r) * tasks] = column_[r];
  for (size_t t = 0; t < others_.size(); ++t) {
    others_[t].Forward(h, batch, column_.data(), &others_ws_[t]);
    for (int r = 0; r < batch; ++r) logits_[static_cast<size_t>(r) * tasks + t + 1] = column_[r];
  }
  return kl_sum;
}

StepStats TowerAdapterStep::Run(const BaseModel& base,
                                       const IakModule& adapter, IakPhase phase,
                                       float beta, const float* h, int batch, const float* click,
                                       const float* conversion, const float* eps, float* grads) {
  const int tasks = base.config().num_tasks;
  std::vector<float> no_eps;
  if (eps == nullptr) {  // a plain adapter: any non-null noise (ignored) marks training
    no_eps.assign(static_cast<size_t>(batch) * adapter.config().latent_dim, 0.0f);
    eps = no_eps.data();
  }
  const double kl_sum = Forward(base, adapter, h, batch, eps);
  dlogits_.resize(logits_.size());
  const StepStats stats = AdapterStepStats(logits_.data(), batch, tasks, click, conversion,
                                           kl_sum, beta, dlogits_.data());
  for (int r = 0; r < batch; ++r) column_[r] = dlogits_[static_cast<size_t>(r) * tasks];
  da_.resize(a_.size());
  rest_[0].Backward(column_.data(), batch, da_.data(), /*param_grads=*/nullptr, &rest_ws_);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(da_.data(), beta, batch, phase, grads, /*dh_in=*/nullptr, &iak_ws_);
  return stats;
}

void TowerAdapterStep::Predict(const BaseModel& base, const IakModule& adapter,
                               const float* h, int batch, float* p_ctr, float* p_ctcvr) {
  const int tasks = base.config().num_tasks;
  CHECK(p_ctcvr == nullptr || tasks == 2) << "pCTCVR needs a two-task (ESMM) base model";
  Forward(base, adapter, h, batch, /*eps=*/nullptr);
  TaskProbabilities(logits_.data(), batch, tasks, p_ctr, p_ctcvr);
}

}  // namespace iak::model
