// Mlp: a stack of DenseLayers with ReLU between them and an optional ReLU
// after the last one.
//
// Like DenseLayer, an Mlp owns no parameters: it is bound to a flat span of
// num_params() floats holding each layer's (W, b) in order, and its
// gradients are written into a span of the same layout. The activations that
// Backward needs live in an MlpWorkspace owned by the caller, one per thread;
// its buffers grow to the largest batch seen and are then reused, so steady
// state training allocates nothing.
//
// Thread-safety: a bound Mlp is immutable; concurrent calls are safe as long
// as each uses its own workspace.
#ifndef IAK_MODEL_MLP_H_
#define IAK_MODEL_MLP_H_

#include <cstddef>
#include <random>
#include <vector>

#include "model/dense_layer.h"

namespace iak::model {

enum class Activation { kNone, kRelu };

// Activations of one Forward, consumed by the matching Backward.
struct MlpWorkspace {
  const float* input = nullptr;  // the caller's x; must outlive Backward
  int batch = 0;
  std::vector<std::vector<float>> outputs;  // per layer, post-activation
  std::vector<float> grad_a;                // backward ping-pong buffers
  std::vector<float> grad_b;
};

class Mlp {
 public:
  // dims = {in, hidden..., out}; at least two entries, all positive.
  Mlp(std::vector<int> dims, Activation last_activation);

  static size_t NumParams(const std::vector<int>& dims);
  size_t num_params() const { return num_params_; }
  int in_dim() const { return dims_.front(); }
  int out_dim() const { return dims_.back(); }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  const std::vector<int>& dims() const { return dims_; }
  // Offset of layer i's (W, b) inside the bound span.
  size_t layer_offset(int i) const { return offsets_[i]; }

  // Points every layer at its slice of `params` (num_params() floats).
  void Bind(const float* params);

  // He init for layers followed by a ReLU, Xavier for a linear last layer;
  // `zero_last` makes the last layer exactly zero instead.
  void Init(std::mt19937_64* rng, bool zero_last, float* params) const;

  // y[batch x out] = mlp(x[batch x in]). Records activations in `ws`.
  void Forward(const float* x, int batch, float* y, MlpWorkspace* ws) const;

  // Backward of the last Forward recorded in `ws` (same batch).
  //   dx (overwritten, [batch x in]) is skipped when null;
  //   param_grads (accumulated, layout of the params) is skipped when null.
  void Backward(const float* dy, int batch, float* dx, float* param_grads,
                MlpWorkspace* ws) const;

 private:
  std::vector<int> dims_;
  Activation last_activation_;
  std::vector<DenseLayer> layers_;
  std::vector<size_t> offsets_;
  size_t num_params_ = 0;
  int max_width_ = 0;
};

}  // namespace iak::model

#endif  // IAK_MODEL_MLP_H_
