// LoraAdapter: low-rank adaptation (Hu et al. 2021) of every dense layer of a
// frozen BaseModel (bottom MLP and towers).
//
// For each layer with weights W [in x out] (y = x W + b), the adapted weights
// are W' = W + (alpha / r) * A B with A [in x r] and B [r x out]; biases stay
// frozen. Standard init: A ~ N(0, 1/in) (Kaiming-like), B = 0, so an untrained
// adapter leaves the base model unchanged.
//
// The adapter works by merging: Merge() writes the base parameters with every
// W replaced by W', the caller runs the base model's ordinary forward/backward
// on those merged parameters (with parameter gradients), and Backward() maps
// dL/dW' to dL/dA = s dW' B^T and dL/dB = s A^T dW'. This is exact; it costs a
// full dW per step, like dense fine-tuning, but trains and stores only A, B.
//
// All parameters live in one flat vector (A_0, B_0, A_1, B_1, ... in the order
// of BaseModel::params()), with a gradient vector of the same layout.
//
// Thread-safety: none; one thread at a time.
#ifndef IAK_MODEL_LORA_H_
#define IAK_MODEL_LORA_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "model/base_model.h"
#include "model/param_buffers.h"

namespace iak::model {

struct LoraConfig {
  int rank = 4;
  float alpha = 4.0f;  // scale s = alpha / rank
};

// InvalidArgument naming the bad field.
Status ValidateLoraConfig(const LoraConfig& config);

// One dense layer inside BaseModel::params(): W at `offset`, [in x out].
struct DenseLayerSlot {
  size_t offset = 0;
  int in_dim = 0;
  int out_dim = 0;
};

// The dense layers of a base model in params() order.
std::vector<DenseLayerSlot> DenseLayerSlots(const BaseModelConfig& config);

class LoraAdapter : public ParamBuffers {
 public:
  // CHECK-fails on an invalid config (validate first). Parameters are zero
  // until Init().
  LoraAdapter(const BaseModelConfig& base, const LoraConfig& config);

  // A ~ N(0, 1/in) from `seed`, B = 0.
  void Init(uint64_t seed);

  const LoraConfig& config() const { return config_; }

  // merged (base.num_params() floats) = base params with W -> W + s A B.
  void Merge(const float* base_params, float* merged) const;

  // Accumulates into grads() the gradients of A and B given dL/dparams of
  // the merged model (layout of BaseModel::params(); biases are ignored).
  void Backward(const float* merged_grads);

 private:
  float scale() const { return config_.alpha / static_cast<float>(config_.rank); }
  // Floats of layer l's A [in_dim x rank]; its B [rank x out_dim] follows.
  size_t FactorASize(size_t l) const {
    return static_cast<size_t>(layers_[l].in_dim) * config_.rank;
  }

  LoraConfig config_;
  size_t base_params_ = 0;
  std::vector<DenseLayerSlot> layers_;
  std::vector<size_t> a_offsets_;  // into params_; B follows A
};

}  // namespace iak::model

#endif  // IAK_MODEL_LORA_H_
