// Row-major float kernels over raw pointers: the arithmetic under every
// layer. Matrices are dense and row-major; a [rows x cols] matrix has leading
// dimension cols. The GEMM wrappers call model/gemm.h (the IAK_BLAS library).
//
// Functions that "accumulate" add into their output (so gradients of several
// batches or several consumers can be summed); the others overwrite it.
// Unless stated, input and output must not alias.
//
// Thread-safety: pure functions; safe from any number of threads.
#ifndef IAK_MODEL_MATRIX_OPS_H_
#define IAK_MODEL_MATRIX_OPS_H_

#include <cmath>
#include <cstddef>

namespace iak::model {

// y[batch x out] = x[batch x in] * w[in x out] + b[out]  (b may be null).
void LinearForward(const float* x, const float* w, const float* b, int batch,
                   int in, int out, float* y);

// y = x * w + b followed by ReLU when `relu`, fused: one GEMM, then one pass
// adding the bias and applying the activation (b may be null).
void LinearBiasActForward(const float* x, const float* w, const float* b, int batch,
                          int in, int out, bool relu, float* y);

// dx[batch x in] = dy[batch x out] * w^T.
void LinearBackwardInput(const float* dy, const float* w, int batch, int in,
                         int out, float* dx);

// dw[in x out] += x^T * dy.
void AccumulateWeightGrad(const float* x, const float* dy, int batch, int in,
                          int out, float* dw);

// db[out] += column sums of dy[batch x out].
void AccumulateBiasGrad(const float* dy, int batch, int out, float* db);

// y = max(x, 0); y may alias x.
void ReluForward(const float* x, size_t n, float* y);

// dx = dy where y > 0, else 0, with y the ReLU *output*; dx may alias dy.
void ReluBackward(const float* y, const float* dy, size_t n, float* dx);

// y += x.
void AddInPlace(const float* x, size_t n, float* y);

// x *= alpha.
void ScaleInPlace(float alpha, size_t n, float* x);

inline float Sigmoid(float x) {
  // Two branches so that exp() never overflows.
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

// log(sigmoid(x)), stable for large |x|.
inline float LogSigmoid(float x) {
  return x >= 0.0f ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

}  // namespace iak::model

#endif  // IAK_MODEL_MATRIX_OPS_H_
