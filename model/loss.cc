#include "model/loss.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <glog/logging.h>

#include "model/matrix_ops.h"

namespace iak::model {
namespace {

// BCE of sigmoid(l) against y, and its derivative in l.
float BceWithLogits(float l, float y, float* dl) {
  *dl = Sigmoid(l) - y;
  return -(y * LogSigmoid(l) + (1.0f - y) * LogSigmoid(-l));
}

}  // namespace

float TaskLoss(const float* logits, int batch, int num_tasks,
               const float* click, const float* conversion, float* dlogits) {
  if (batch <= 0) return 0.0f;
  const double total = TaskLossSum(logits, batch, num_tasks, click, conversion,
                                   1.0f / static_cast<float>(batch), dlogits);
  return static_cast<float>(total / batch);
}

double TaskLossSum(const float* logits, int batch, int num_tasks,
                   const float* click, const float* conversion, float grad_scale,
                   float* dlogits) {
  CHECK(num_tasks == 1 || num_tasks == 2) << "num_tasks " << num_tasks;
  CHECK(num_tasks == 1 || conversion != nullptr)
      << "the ESMM loss needs conversion labels";
  if (batch <= 0) return 0.0;
  const float inv_batch = grad_scale;
  double total = 0.0;
  for (int r = 0; r < batch; ++r) {
    const float l0 = logits[r * num_tasks];
    const float y1 = click[r];
    float d0 = 0.0f;
    double loss = BceWithLogits(l0, y1, &d0);
    if (num_tasks == 2) {
      const float l1 = logits[r * num_tasks + 1];
      const float y2 = y1 * conversion[r];
      const float p = Sigmoid(l0);
      const float q = Sigmoid(l1);
      const float t = p * q;
      // 1 - p*q = (1-p) + p(1-q), each factor exact for saturated logits.
      const float one_minus_t =
          std::max(Sigmoid(-l0) + p * Sigmoid(-l1), kProbEps);
      const float log_t = LogSigmoid(l0) + LogSigmoid(l1);
      loss += -(y2 * log_t + (1.0f - y2) * std::log(one_minus_t));
      // dL/dt = (t - y2) / (t (1 - t)); dt/dl0 = t (1 - p); dt/dl1 = t (1 - q).
      const float common = (t - y2) / one_minus_t;
      d0 += common * Sigmoid(-l0);
      dlogits[r * num_tasks + 1] = common * Sigmoid(-l1) * inv_batch;
    }
    dlogits[r * num_tasks] = d0 * inv_batch;
    total += loss;
  }
  return total;
}

void TaskProbabilities(const float* logits, int batch, int num_tasks, float* p_ctr,
                       float* p_ctcvr) {
  for (int r = 0; r < batch; ++r) {
    const float p = Sigmoid(logits[static_cast<size_t>(r) * num_tasks]);
    p_ctr[r] = p;
    if (p_ctcvr != nullptr) {
      p_ctcvr[r] = p * Sigmoid(logits[static_cast<size_t>(r) * num_tasks + 1]);
    }
  }
}

void AddCtrLogitOffset(const float* offset, int batch, int num_tasks, float* logits) {
  if (offset == nullptr) return;
  for (int i = 0; i < batch; ++i) logits[static_cast<size_t>(i) * num_tasks] += offset[i];
}

}  // namespace iak::model
