// DenseLayer: y = x * W + b, the linear map every MLP is made of.
//
// The layer owns no parameters. It is bound to a span of NumParams(in, out)
// floats laid out as W [in x out] row-major followed by b [out], living in a
// flat vector owned by the enclosing module; the gradient of that span has
// the same layout in a second flat vector. That is what lets a module keep
// all its parameters (and all its gradients) contiguous for all-reduce.
//
// Thread-safety: Forward/Backward are const and touch only caller memory, so
// a bound layer may be used from several threads at once.
#ifndef IAK_MODEL_DENSE_LAYER_H_
#define IAK_MODEL_DENSE_LAYER_H_

#include <cstddef>
#include <random>

namespace iak::model {

enum class DenseInit {
  kHe,      // N(0, 2/in): for layers followed by a ReLU
  kXavier,  // U(+-sqrt(6/(in+out))): for linear outputs
  kZero,    // all zero: an adapter's last layer, so it starts as identity
};

class DenseLayer {
 public:
  DenseLayer(int in_dim, int out_dim);

  static size_t NumParams(int in_dim, int out_dim) {
    return static_cast<size_t>(in_dim) * out_dim + out_dim;
  }
  size_t num_params() const { return NumParams(in_dim_, out_dim_); }
  int in_dim() const { return in_dim_; }
  int out_dim() const { return out_dim_; }

  // Points the layer at its parameters; `params` must outlive every later
  // Forward/Backward (or the next Bind).
  void Bind(const float* params) { params_ = params; }
  const float* weights() const { return params_; }
  const float* bias() const {
    return params_ + static_cast<size_t>(in_dim_) * out_dim_;
  }

  // y[batch x out] = x[batch x in] * W + b.
  void Forward(const float* x, int batch, float* y) const;

  // Given the forward input x and dy = dL/dy:
  //   dx  = dy * W^T      (overwritten; skipped when null)
  //   dw += x^T * dy      (skipped when null)
  //   db += colsum(dy)    (skipped when null)
  // A frozen layer passes null dw/db and pays nothing for weight gradients.
  void Backward(const float* x, const float* dy, int batch, float* dx,
                float* dw, float* db) const;

 private:
  int in_dim_;
  int out_dim_;
  const float* params_ = nullptr;
};

// Fills a DenseLayer parameter span (W then b, b = 0) from `rng`.
void InitDenseParams(int in_dim, int out_dim, DenseInit kind,
                     std::mt19937_64* rng, float* params);

}  // namespace iak::model

#endif  // IAK_MODEL_DENSE_LAYER_H_
