#include "model/fine_tune_step.h"

#include <glog/logging.h>

#include "model/loss.h"
#include "model/matrix_ops.h"

namespace iak::model {
namespace {

void EnsureSize(std::vector<float>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

}  // namespace

StepStats AdapterStepStats(const float* logits, int batch, int num_tasks, const float* click,
                           const float* conversion, double kl_sum, float beta, float* dlogits) {
  StepStats stats;
  stats.task_loss = TaskLoss(logits, batch, num_tasks, click,
                             num_tasks == 2 ? conversion : nullptr, dlogits);
  stats.kl = batch > 0 ? static_cast<float>(kl_sum / batch) : 0.0f;
  stats.loss = stats.task_loss + beta * stats.kl;
  return stats;
}

void FineTuneStep::Resize(const BaseModel& base, int batch) {
  const size_t n_h = static_cast<size_t>(batch) * base.config().h_dim();
  const size_t n_logits = static_cast<size_t>(batch) * base.config().num_tasks;
  EnsureSize(&h_, n_h);
  EnsureSize(&h_adapted_, n_h);
  EnsureSize(&dh_, n_h);
  EnsureSize(&logits_, n_logits);
  EnsureSize(&dlogits_, n_logits);
}

StepStats FineTuneStep::Run(const BaseModel& base, IakModule* iak,
                            IakPhase phase, float beta, const float* x,
                            int batch, const float* click,
                            const float* conversion, std::mt19937_64* rng) {
  CHECK_EQ(iak->config().input_dim, base.config().h_dim())
      << "the IAK module must sit on h";
  const int tasks = base.config().num_tasks;
  Resize(base, batch);
  iak->ZeroGrads();

  base.ForwardBottom(x, batch, h_.data(), &base_ws_);
  StepStats stats;
  stats.kl = iak->Forward(h_.data(), batch, /*training=*/true, rng,
                          h_adapted_.data());
  base.ForwardTowers(h_adapted_.data(), batch, logits_.data(), &base_ws_);
  stats.task_loss = TaskLoss(logits_.data(), batch, tasks, click,
                             tasks == 2 ? conversion : nullptr,
                             dlogits_.data());
  stats.loss = stats.task_loss + beta * stats.kl;

  base.BackwardTowers(dlogits_.data(), batch, dh_.data(),
                      /*param_grads=*/nullptr, &base_ws_);
  // The bottom is frozen and below the adapter: no dh_in needed.
  iak->Backward(dh_.data(), beta, phase, /*dh_in=*/nullptr);
  return stats;
}

void FineTuneStep::Predict(const BaseModel& base, const IakModule* iak,
                           const float* x, int batch, float* p_ctr,
                           float* p_ctcvr) {
  const int tasks = base.config().num_tasks;
  CHECK(p_ctcvr == nullptr || tasks == 2)
      << "pCTCVR needs a two-task (ESMM) base model";
  Resize(base, batch);
  base.ForwardBottom(x, batch, h_.data(), &base_ws_);
  const float* h = h_.data();
  if (iak != nullptr) {
    iak->Infer(h_.data(), batch, h_adapted_.data(), &iak_ws_);
    h = h_adapted_.data();
  }
  base.ForwardTowers(h, batch, logits_.data(), &base_ws_);
  TaskProbabilities(logits_.data(), batch, tasks, p_ctr, p_ctcvr);
}

}  // namespace iak::model
