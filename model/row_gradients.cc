#include "model/row_gradients.h"

namespace iak::model {

void RowGradients::Clear() {
  slot_.clear();
  keys_.clear();
  grads_.clear();
}

void RowGradients::Add(uint64_t key, const float* grad) {
  auto [it, inserted] = slot_.try_emplace(key, keys_.size());
  if (inserted) {
    keys_.push_back(key);
    grads_.resize(grads_.size() + dim_, 0.0f);
  }
  float* g = grads_.data() + it->second * dim_;
  for (int j = 0; j < dim_; ++j) g[j] += grad[j];
}

void RowGradients::Collect(const data::Dataset& data, const uint32_t* ids, int batch,
                           const float* dx) {
  Clear();
  ScatterPoolGradient(data, ids, batch, dim_, dx, this, scratch_.data());
}

void RowGradients::Scale(float s) {
  for (float& g : grads_) g *= s;
}

}  // namespace iak::model
