#include "model/dense_layer.h"

#include <cmath>

#include <glog/logging.h>

#include "model/matrix_ops.h"

namespace iak::model {

DenseLayer::DenseLayer(int in_dim, int out_dim)
    : in_dim_(in_dim), out_dim_(out_dim) {
  CHECK_GT(in_dim, 0);
  CHECK_GT(out_dim, 0);
}

void DenseLayer::Forward(const float* x, int batch, float* y) const {
  DCHECK(params_ != nullptr) << "DenseLayer used before Bind()";
  LinearForward(x, weights(), bias(), batch, in_dim_, out_dim_, y);
}

void DenseLayer::Backward(const float* x, const float* dy, int batch,
                          float* dx, float* dw, float* db) const {
  DCHECK(params_ != nullptr) << "DenseLayer used before Bind()";
  if (dx != nullptr) {
    LinearBackwardInput(dy, weights(), batch, in_dim_, out_dim_, dx);
  }
  if (dw != nullptr) {
    AccumulateWeightGrad(x, dy, batch, in_dim_, out_dim_, dw);
  }
  if (db != nullptr) AccumulateBiasGrad(dy, batch, out_dim_, db);
}

void InitDenseParams(int in_dim, int out_dim, DenseInit kind,
                     std::mt19937_64* rng, float* params) {
  const size_t nw = static_cast<size_t>(in_dim) * out_dim;
  switch (kind) {
    case DenseInit::kHe: {
      std::normal_distribution<float> dist(0.0f, std::sqrt(2.0f / in_dim));
      for (size_t i = 0; i < nw; ++i) params[i] = dist(*rng);
      break;
    }
    case DenseInit::kXavier: {
      const float a = std::sqrt(6.0f / static_cast<float>(in_dim + out_dim));
      std::uniform_real_distribution<float> dist(-a, a);
      for (size_t i = 0; i < nw; ++i) params[i] = dist(*rng);
      break;
    }
    case DenseInit::kZero:
      for (size_t i = 0; i < nw; ++i) params[i] = 0.0f;
      break;
  }
  for (int i = 0; i < out_dim; ++i) params[nw + i] = 0.0f;
}

}  // namespace iak::model
