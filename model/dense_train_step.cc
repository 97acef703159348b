#include "model/dense_train_step.h"

#include "model/loss.h"

namespace iak::model {

float DenseTrainStep::Run(BaseModel* model, const float* x, int batch, const float* click,
                          const float* conversion, float* dx) {
  model->ZeroGrads();
  if (batch <= 0) return 0.0f;
  const BaseModelConfig& c = model->config();
  h_.resize(static_cast<size_t>(batch) * c.h_dim());
  dh_.resize(h_.size());
  logits_.resize(static_cast<size_t>(batch) * c.num_tasks);
  dlogits_.resize(logits_.size());
  if (conversion == nullptr && c.num_tasks > 1) {
    zeros_.assign(batch, 0.0f);
    conversion = zeros_.data();
  }
  model->ForwardBottom(x, batch, h_.data(), &ws_);
  model->ForwardTowers(h_.data(), batch, logits_.data(), &ws_);
  const float loss =
      TaskLoss(logits_.data(), batch, c.num_tasks, click, conversion, dlogits_.data());
  model->BackwardTowers(dlogits_.data(), batch, dh_.data(), model->mutable_grads(), &ws_);
  model->BackwardBottom(dh_.data(), batch, dx, model->mutable_grads(), &ws_);
  return loss;
}

}  // namespace iak::model
