#include "model/mlp.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <glog/logging.h>

#include "model/matrix_ops.h"

namespace iak::model {
namespace {

// Grows `v` to at least n floats; never shrinks, so capacity is kept.
void EnsureSize(std::vector<float>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

}  // namespace

Mlp::Mlp(std::vector<int> dims, Activation last_activation)
    : dims_(std::move(dims)), last_activation_(last_activation) {
  CHECK_GE(dims_.size(), 2u) << "an Mlp needs an input and an output width";
  for (size_t i = 0; i + 1 < dims_.size(); ++i) {
    offsets_.push_back(num_params_);
    layers_.emplace_back(dims_[i], dims_[i + 1]);
    num_params_ += layers_.back().num_params();
  }
  max_width_ = *std::max_element(dims_.begin(), dims_.end());
}

size_t Mlp::NumParams(const std::vector<int>& dims) {
  size_t n = 0;
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    n += DenseLayer::NumParams(dims[i], dims[i + 1]);
  }
  return n;
}

void Mlp::Bind(const float* params) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].Bind(params + offsets_[i]);
  }
}

void Mlp::Init(std::mt19937_64* rng, bool zero_last, float* params) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const bool last = i + 1 == layers_.size();
    DenseInit kind = DenseInit::kHe;
    if (last && zero_last) {
      kind = DenseInit::kZero;
    } else if (last && last_activation_ == Activation::kNone) {
      kind = DenseInit::kXavier;
    }
    InitDenseParams(layers_[i].in_dim(), layers_[i].out_dim(), kind, rng,
                    params + offsets_[i]);
  }
}

void Mlp::Forward(const float* x, int batch, float* y,
                  MlpWorkspace* ws) const {
  CHECK_GE(batch, 0);
  ws->input = x;
  ws->batch = batch;
  ws->outputs.resize(layers_.size());
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const size_t n = static_cast<size_t>(batch) * layers_[i].out_dim();
    EnsureSize(&ws->outputs[i], n);
    float* out = ws->outputs[i].data();
    const bool last = i + 1 == layers_.size();
    const bool relu = !last || last_activation_ == Activation::kRelu;
    const DenseLayer& layer = layers_[i];
    LinearBiasActForward(in, layer.weights(), layer.bias(), batch, layer.in_dim(),
                         layer.out_dim(), relu, out);
    in = out;
  }
  std::memcpy(y, in, sizeof(float) * batch * out_dim());
}

void Mlp::Backward(const float* dy, int batch, float* dx, float* param_grads,
                   MlpWorkspace* ws) const {
  CHECK_EQ(batch, ws->batch) << "Backward must follow a Forward of the same batch";
  if (dx == nullptr && param_grads == nullptr) return;
  const size_t cap = static_cast<size_t>(batch) * max_width_;
  EnsureSize(&ws->grad_a, cap);
  EnsureSize(&ws->grad_b, cap);
  float* cur = ws->grad_a.data();
  float* next = ws->grad_b.data();

  // g = dL/d(pre-activation of the last layer).
  const int last = num_layers() - 1;
  const float* g = dy;
  if (last_activation_ == Activation::kRelu) {
    ReluBackward(ws->outputs[last].data(), dy,
                 static_cast<size_t>(batch) * out_dim(), cur);
    g = cur;
    std::swap(cur, next);
  }
  for (int i = last; i >= 0; --i) {
    const DenseLayer& layer = layers_[i];
    const float* in = i == 0 ? ws->input : ws->outputs[i - 1].data();
    float* dw = nullptr;
    float* db = nullptr;
    if (param_grads != nullptr) {
      dw = param_grads + offsets_[i];
      db = dw + static_cast<size_t>(layer.in_dim()) * layer.out_dim();
    }
    float* d_in = i > 0 ? cur : dx;  // null dx: no input gradient
    layer.Backward(in, g, batch, d_in, dw, db);
    if (i > 0) {
      // Layer i-1 is always followed by a ReLU.
      const size_t n = static_cast<size_t>(batch) * layer.in_dim();
      ReluBackward(ws->outputs[i - 1].data(), cur, n, cur);
      g = cur;
      std::swap(cur, next);
    }
  }
}

}  // namespace iak::model
