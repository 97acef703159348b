#include "model/parallel_step.h"

#include <algorithm>
#include <atomic>

#include <glog/logging.h>

#include "model/loss.h"
#include "model/matrix_ops.h"

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
  const int blocks = (batch + kBottomBlock - 1) / kBottomBlock;
  Bf16Bottom* bf16 = bf16_bottom_;
  static_assert(Bf16Bottom::kBlockRows == kBottomBlock, "the bf16 bottom runs the same blocks");
  CHECK(bf16 == nullptr || bf16->base() == &base) << "the bf16 bottom was made from another base";
  std::atomic<int> next_block{0};
  pool_.Run([&](int p) {
    Part& part = parts_[p];
    auto forward = [&](const float* xb, float* hb) {
      if (bf16 != nullptr) {
        bf16->Forward(xb, hb, p);
      } else {
        base.ForwardBottom(xb, kBottomBlock, hb, &part.base_ws);
      }
    };
    for (int block = next_block++; block < blocks; block = next_block++) {
      const int begin = block * kBottomBlock;
      const int n = std::min(kBottomBlock, batch - begin);
      if (n == kBottomBlock) {
        forward(x + begin * in, h + begin * hd);
        continue;
      }
      // A short block is padded with zero rows: every GEMM of the bottom then
      // has the same shape, so a row's h never depends on the batch size.
      EnsureSize(&part.x_pad, kBottomBlock * in);
      EnsureSize(&part.h_pad, kBottomBlock * hd);
      std::copy(x + begin * in, x + (begin + n) * in, part.x_pad.begin());
      std::fill(part.x_pad.begin() + n * in, part.x_pad.begin() + kBottomBlock * in, 0.0f);
      forward(part.x_pad.data(), part.h_pad.data());
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
  const bool fused = base.config().tower_hidden.size() == 1;
  if (fused) PackTowers(base);
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
    if (fused) {
      FusedTowersForward(n, hd, tasks, &part);
    } else {
      base.ForwardTowers(part.h_adapted.data(), n, part.logits.data(), &part.base_ws);
    }
    part.loss_sum = TaskLossSum(part.logits.data(), n, tasks, click + begin,
                                tasks == 2 ? conversion + begin : nullptr, grad_scale,
                                part.dlogits.data());
    if (fused) {
      FusedTowersBackward(n, hd, tasks, &part);
    } else {
      base.BackwardTowers(part.dlogits.data(), n, part.dh.data(), /*param_grads=*/nullptr,
                          &part.base_ws);
    }
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

void ParallelFineTuneStep::PackTowers(const BaseModel& base) {
  const int hd = base.config().h_dim();
  const int width = base.config().tower_hidden[0];
  const int tasks = base.config().num_tasks;
  const int cols = tasks * width;
  tower_width_ = width;
  EnsureSize(&tower_w_, static_cast<size_t>(hd) * cols);
  EnsureSize(&tower_b_, cols);
  EnsureSize(&head_w_, cols);
  EnsureSize(&head_b_, tasks);
  const float* params = base.params().data();
  for (int t = 0; t < tasks; ++t) {
    // A tower's span (Mlp layout): W1 [hd x width], b1, W2 [width x 1], b2.
    const float* w1 = params + base.tower_param_range(t).begin;
    const float* b1 = w1 + static_cast<size_t>(hd) * width;
    const float* w2 = b1 + width;
    for (int i = 0; i < hd; ++i) {
      std::copy(w1 + static_cast<size_t>(i) * width, w1 + static_cast<size_t>(i + 1) * width,
                tower_w_.begin() + static_cast<size_t>(i) * cols + t * width);
    }
    std::copy(b1, b1 + width, tower_b_.begin() + t * width);
    std::copy(w2, w2 + width, head_w_.begin() + t * width);
    head_b_[t] = w2[width];
  }
}

void ParallelFineTuneStep::FusedTowersForward(int n, int hd, int tasks, Part* part) const {
  const int width = tower_width_;
  const int cols = tasks * width;
  EnsureSize(&part->tower_act, static_cast<size_t>(n) * cols);
  // Every tower's hidden layer in one GEMM: [n x hd] * [hd x tasks*width].
  LinearBiasActForward(part->h_adapted.data(), tower_w_.data(), tower_b_.data(), n, hd, cols,
                       /*relu=*/true, part->tower_act.data());
  for (int r = 0; r < n; ++r) {
    const float* a = part->tower_act.data() + static_cast<size_t>(r) * cols;
    for (int t = 0; t < tasks; ++t) {
      float logit = head_b_[t];
      const float* w = head_w_.data() + t * width;
      const float* at = a + t * width;
      for (int j = 0; j < width; ++j) logit += at[j] * w[j];
      part->logits[static_cast<size_t>(r) * tasks + t] = logit;
    }
  }
}

void ParallelFineTuneStep::FusedTowersBackward(int n, int hd, int tasks, Part* part) const {
  const int width = tower_width_;
  const int cols = tasks * width;
  EnsureSize(&part->tower_grad, static_cast<size_t>(n) * cols);
  for (int r = 0; r < n; ++r) {
    const float* a = part->tower_act.data() + static_cast<size_t>(r) * cols;
    float* g = part->tower_grad.data() + static_cast<size_t>(r) * cols;
    for (int t = 0; t < tasks; ++t) {
      const float dl = part->dlogits[static_cast<size_t>(r) * tasks + t];
      const float* w = head_w_.data() + t * width;
      // dl * w[j] where the ReLU passed, else 0, in two passes: with the
      // product under the condition the loop stays scalar and branchy (a
      // coin toss per element); these vectorize. The same floats.
      float* __restrict gt = g + t * width;
      const float* __restrict at = a + t * width;
      for (int j = 0; j < width; ++j) gt[j] = dl * w[j];
      for (int j = 0; j < width; ++j) gt[j] = at[j] > 0.0f ? gt[j] : 0.0f;
    }
  }
  // dh = sum over towers of dA_t * W1_t^T, as one GEMM.
  LinearBackwardInput(part->tower_grad.data(), tower_w_.data(), n, hd, cols, part->dh.data());
}

StepStats ParallelFineTuneStep::Run(const BaseModel& base, IakModule* iak, IakPhase phase,
                                    float beta, const float* x, int batch, const float* click,
                                    const float* conversion, const float* eps) {
  EnsureSize(&h_, static_cast<size_t>(batch) * base.config().h_dim());
  ForwardBottom(base, x, batch, h_.data());
  return RunOnH(base, iak, phase, beta, h_.data(), batch, click, conversion, eps);
}

}  // namespace iak::model
