#include "model/parallel_step.h"

#include <algorithm>

#include <glog/logging.h>

#include "model/loss.h"

namespace iak::model {
namespace {

void EnsureSize(std::vector<float>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

}  // namespace

ParallelFineTuneStep::ParallelFineTuneStep(int num_threads)
    : pool_(num_threads), parts_(num_threads) {}

void ParallelFineTuneStep::ForwardBottom(const BaseModel& base, const float* x, int batch,
                                         float* h) {
  const size_t in = base.config().input_dim();
  const size_t hd = base.config().h_dim();
  const int parts = pool_.num_threads();
  const int blocks = (batch + kBottomBlock - 1) / kBottomBlock;
  pool_.Run([&](int p) {
    Part& part = parts_[p];
    for (int block = p; block < blocks; block += parts) {
      const int begin = block * kBottomBlock;
      const int n = std::min(kBottomBlock, batch - begin);
      if (n == kBottomBlock) {
        base.ForwardBottom(x + begin * in, n, h + begin * hd, &part.base_ws);
        continue;
      }
      // A short block is padded with zero rows: every GEMM of the bottom then
      // has the same shape, so a row's h never depends on the batch size.
      EnsureSize(&part.x_pad, kBottomBlock * in);
      EnsureSize(&part.h_pad, kBottomBlock * hd);
      std::copy(x + begin * in, x + (begin + n) * in, part.x_pad.begin());
      std::fill(part.x_pad.begin() + n * in, part.x_pad.begin() + kBottomBlock * in, 0.0f);
      base.ForwardBottom(part.x_pad.data(), kBottomBlock, part.h_pad.data(), &part.base_ws);
      std::copy(part.h_pad.begin(), part.h_pad.begin() + n * hd, h + begin * hd);
    }
  });
}

StepStats ParallelFineTuneStep::RunOnH(const BaseModel& base, IakModule* iak, IakPhase phase,
                                       float beta, const float* h, int batch,
                                       const float* click, const float* conversion,
                                       const float* eps) {
  CHECK_EQ(iak->config().input_dim, base.config().h_dim()) << "the IAK module must sit on h";
  const int tasks = base.config().num_tasks;
  CHECK(tasks == 1 || conversion != nullptr) << "the ESMM loss needs conversion labels";
  const size_t hd = base.config().h_dim();
  const size_t k = iak->config().latent_dim;
  const size_t num_params = iak->num_params();
  const int parts = pool_.num_threads();
  const float grad_scale = batch > 0 ? 1.0f / static_cast<float>(batch) : 0.0f;
  const IakModule& module = *iak;
  pool_.Run([&](int p) {
    Part& part = parts_[p];
    int begin = 0, end = 0;
    PartRange(batch, parts, p, &begin, &end);
    const int n = end - begin;
    EnsureSize(&part.grads, num_params);
    std::fill(part.grads.begin(), part.grads.begin() + num_params, 0.0f);
    part.loss_sum = 0.0;
    part.kl_sum = 0.0;
    if (n <= 0) return;
    EnsureSize(&part.h_adapted, n * hd);
    EnsureSize(&part.dh, n * hd);
    EnsureSize(&part.logits, static_cast<size_t>(n) * tasks);
    EnsureSize(&part.dlogits, static_cast<size_t>(n) * tasks);
    part.kl_sum = module.TrainForward(h + begin * hd, n, eps == nullptr ? nullptr : eps + begin * k,
                                      part.h_adapted.data(), &part.iak_ws);
    base.ForwardTowers(part.h_adapted.data(), n, part.logits.data(), &part.base_ws);
    part.loss_sum = TaskLossSum(part.logits.data(), n, tasks, click + begin,
                                tasks == 2 ? conversion + begin : nullptr, grad_scale,
                                part.dlogits.data());
    base.BackwardTowers(part.dlogits.data(), n, part.dh.data(), /*param_grads=*/nullptr,
                        &part.base_ws);
    // The bottom is frozen and below the adapter: no dh_in needed.
    module.TrainBackward(part.dh.data(), beta, batch, phase, part.grads.data(),
                         /*dh_in=*/nullptr, &part.iak_ws);
  });
  float* grads = iak->mutable_grads();
  std::copy(parts_[0].grads.begin(), parts_[0].grads.begin() + num_params, grads);
  double loss_sum = parts_[0].loss_sum, kl_sum = parts_[0].kl_sum;
  for (int p = 1; p < parts; ++p) {
    const float* g = parts_[p].grads.data();
    for (size_t i = 0; i < num_params; ++i) grads[i] += g[i];
    loss_sum += parts_[p].loss_sum;
    kl_sum += parts_[p].kl_sum;
  }
  StepStats stats;
  if (batch > 0) {
    stats.task_loss = static_cast<float>(loss_sum / batch);
    stats.kl = static_cast<float>(kl_sum / batch);
  }
  stats.loss = stats.task_loss + beta * stats.kl;
  return stats;
}

StepStats ParallelFineTuneStep::Run(const BaseModel& base, IakModule* iak, IakPhase phase,
                                    float beta, const float* x, int batch, const float* click,
                                    const float* conversion, const float* eps) {
  EnsureSize(&h_, static_cast<size_t>(batch) * base.config().h_dim());
  ForwardBottom(base, x, batch, h_.data());
  return RunOnH(base, iak, phase, beta, h_.data(), batch, click, conversion, eps);
}

}  // namespace iak::model
