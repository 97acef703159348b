#include "model/lora.h"

#include <cmath>
#include <random>

#include <glog/logging.h>

#include "model/mlp.h"

namespace iak::model {
namespace {

void AddSlots(const std::vector<int>& dims, size_t* offset, std::vector<DenseLayerSlot>* out) {
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    out->push_back(DenseLayerSlot{*offset, dims[i], dims[i + 1]});
    *offset += static_cast<size_t>(dims[i]) * dims[i + 1] + dims[i + 1];
  }
}

}  // namespace

Status ValidateLoraConfig(const LoraConfig& config) {
  if (config.rank <= 0) return InvalidArgumentError("lora: rank must be > 0");
  if (!(config.alpha > 0.0f)) return InvalidArgumentError("lora: alpha must be > 0");
  return Status::Ok();
}

std::vector<DenseLayerSlot> DenseLayerSlots(const BaseModelConfig& config) {
  std::vector<DenseLayerSlot> slots;
  size_t offset = 0;
  std::vector<int> bottom{config.input_dim()};
  bottom.insert(bottom.end(), config.bottom_hidden.begin(), config.bottom_hidden.end());
  AddSlots(bottom, &offset, &slots);
  for (int t = 0; t < config.num_tasks; ++t) {
    std::vector<int> tower{config.h_dim()};
    tower.insert(tower.end(), config.tower_hidden.begin(), config.tower_hidden.end());
    tower.push_back(1);
    AddSlots(tower, &offset, &slots);
  }
  return slots;
}

LoraAdapter::LoraAdapter(const BaseModelConfig& base, const LoraConfig& config)
    : config_(config), layers_(DenseLayerSlots(base)) {
  CHECK(ValidateLoraConfig(config).ok()) << ValidateLoraConfig(config).ToString();
  size_t total = 0;
  for (const DenseLayerSlot& layer : layers_) {
    a_offsets_.push_back(total);
    total += static_cast<size_t>(config.rank) * (layer.in_dim + layer.out_dim);
    base_params_ = layer.offset + static_cast<size_t>(layer.in_dim) * layer.out_dim + layer.out_dim;
  }
  CHECK_EQ(base_params_, BaseModel(base).num_params());
  AllocateParams(total);
}

void LoraAdapter::Init(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int r = config_.rank;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DenseLayerSlot& layer = layers_[l];
    std::normal_distribution<float> dist(0.0f, 1.0f / std::sqrt(static_cast<float>(layer.in_dim)));
    float* a = params_.data() + a_offsets_[l];
    for (size_t i = 0; i < static_cast<size_t>(layer.in_dim) * r; ++i) a[i] = dist(rng);
    float* b = a + static_cast<size_t>(layer.in_dim) * r;
    for (size_t i = 0; i < static_cast<size_t>(r) * layer.out_dim; ++i) b[i] = 0.0f;
  }
}

void LoraAdapter::Merge(const float* base_params, float* merged) const {
  std::copy(base_params, base_params + base_params_, merged);
  const int r = config_.rank;
  const float s = scale();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DenseLayerSlot& layer = layers_[l];
    const float* a = params_.data() + a_offsets_[l];
    const float* b = a + FactorASize(l);
    float* w = merged + layer.offset;
    for (int i = 0; i < layer.in_dim; ++i) {
      for (int k = 0; k < r; ++k) {
        const float aik = s * a[static_cast<size_t>(i) * r + k];
        if (aik == 0.0f) continue;
        const float* brow = b + static_cast<size_t>(k) * layer.out_dim;
        float* wrow = w + static_cast<size_t>(i) * layer.out_dim;
        for (int j = 0; j < layer.out_dim; ++j) wrow[j] += aik * brow[j];
      }
    }
  }
}

void LoraAdapter::Backward(const float* merged_grads) {
  const int r = config_.rank;
  const float s = scale();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DenseLayerSlot& layer = layers_[l];
    const float* dw = merged_grads + layer.offset;
    // A then B of layer l, in the parameters and in their gradients.
    const float* a = params_.data() + a_offsets_[l];
    float* ga = grads_.data() + a_offsets_[l];
    const float* b = a + FactorASize(l);
    float* gb = ga + FactorASize(l);
    for (int i = 0; i < layer.in_dim; ++i) {
      const float* dwrow = dw + static_cast<size_t>(i) * layer.out_dim;
      for (int k = 0; k < r; ++k) {
        const float* brow = b + static_cast<size_t>(k) * layer.out_dim;
        double dot = 0.0;
        for (int j = 0; j < layer.out_dim; ++j) dot += static_cast<double>(dwrow[j]) * brow[j];
        ga[static_cast<size_t>(i) * r + k] += s * static_cast<float>(dot);
        // dB[k][:] += s * A[i][k] * dW[i][:]
        const float aik = s * a[static_cast<size_t>(i) * r + k];
        float* gbrow = gb + static_cast<size_t>(k) * layer.out_dim;
        for (int j = 0; j < layer.out_dim; ++j) gbrow[j] += aik * dwrow[j];
      }
    }
  }
}

}  // namespace iak::model
