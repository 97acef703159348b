// ParamBuffers: a trainable module's parameters and gradients, two flat
// float vectors of one layout, so that the whole module is all-reduced,
// checkpointed and stepped as a single span (see param_range.h for naming
// the part of a sub-module). BaseModel, IakModule and LoraAdapter derive
// from it.
//
// The layers of a module point into params_: the vectors are sized once by
// AllocateParams() and never reallocated; a module that is copied or moved
// rebinds its layers to its own buffers.
//
// Thread-safety: none (a module's owner serialises access).
#ifndef IAK_MODEL_PARAM_BUFFERS_H_
#define IAK_MODEL_PARAM_BUFFERS_H_

#include <algorithm>
#include <cstddef>
#include <vector>

namespace iak::model {

class ParamBuffers {
 public:
  size_t num_params() const { return params_.size(); }
  const std::vector<float>& params() const { return params_; }
  // Raw spans rather than the vectors: the layers point into the buffers,
  // so they must never be reallocated or replaced.
  float* mutable_params() { return params_.data(); }
  const std::vector<float>& grads() const { return grads_; }
  float* mutable_grads() { return grads_.data(); }
  void ZeroGrads() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

 protected:
  // n zero parameters and gradients.
  void AllocateParams(size_t n) {
    params_.assign(n, 0.0f);
    grads_.assign(n, 0.0f);
  }

  std::vector<float> params_;
  std::vector<float> grads_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_PARAM_BUFFERS_H_
