#include "model/matrix_ops.h"

#include "model/gemm.h"

#include <cstring>

namespace iak::model {

void LinearForward(const float* x, const float* w, const float* b, int batch,
                   int in, int out, float* y) {
  if (batch == 0) return;
  float beta = 0.0f;
  if (b != nullptr) {
    for (int r = 0; r < batch; ++r) {
      std::memcpy(y + static_cast<size_t>(r) * out, b, sizeof(float) * out);
    }
    beta = 1.0f;
  }
  Sgemm(false, false, batch, out, in, 1.0f, x, in, w, out, beta, y, out);
}

void LinearBiasActForward(const float* x, const float* w, const float* b, int batch,
                          int in, int out, bool relu, float* y) {
  if (batch == 0) return;
  Sgemm(false, false, batch, out, in, 1.0f, x, in, w, out, 0.0f, y, out);
  for (int r = 0; r < batch; ++r) {
    float* row = y + static_cast<size_t>(r) * out;
    if (b != nullptr && relu) {
      for (int c = 0; c < out; ++c) {
        const float v = row[c] + b[c];
        row[c] = v > 0.0f ? v : 0.0f;
      }
    } else if (b != nullptr) {
      for (int c = 0; c < out; ++c) row[c] += b[c];
    } else if (relu) {
      for (int c = 0; c < out; ++c) row[c] = row[c] > 0.0f ? row[c] : 0.0f;
    }
  }
}

void LinearBackwardInput(const float* dy, const float* w, int batch, int in,
                         int out, float* dx) {
  if (batch == 0) return;
  Sgemm(false, true, batch, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in);
}

void AccumulateWeightGrad(const float* x, const float* dy, int batch, int in,
                          int out, float* dw) {
  if (batch == 0) return;
  Sgemm(true, false, in, out, batch, 1.0f, x, in, dy, out, 1.0f, dw, out);
}

void AccumulateBiasGrad(const float* dy, int batch, int out, float* db) {
  for (int r = 0; r < batch; ++r) {
    const float* row = dy + static_cast<size_t>(r) * out;
    for (int c = 0; c < out; ++c) db[c] += row[c];
  }
}

void ReluForward(const float* x, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ReluBackward(const float* y, const float* dy, size_t n, float* dx) {
  // dy[i] is read whatever y[i] is: a conditional read keeps the loop scalar
  // and branchy (the branch is a coin toss on ReLU outputs); a select of a
  // value read anyway vectorizes. The same floats either way.
  for (size_t i = 0; i < n; ++i) {
    const float g = dy[i];
    dx[i] = y[i] > 0.0f ? g : 0.0f;
  }
}

void AddInPlace(const float* x, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void ScaleInPlace(float alpha, size_t n, float* x) {
  for (size_t i = 0; i < n; ++i) x[i] *= alpha;
}

}  // namespace iak::model
