#include "ps/sparse_row_optimizer.h"

#include <cmath>
#include <cstring>
#include <utility>

#include <glog/logging.h>

namespace iak::ps {

StatusOr<RowOptimizerKind> ParseRowOptimizer(const std::string& name) {
  if (name.empty() || name == "adagrad") return RowOptimizerKind::kAdagrad;
  if (name == "adam") return RowOptimizerKind::kAdam;
  return InvalidArgumentError("unknown trainable PS optimizer '" + name +
                              "'; use \"adagrad\" or \"adam\"");
}

const char* RowOptimizerName(RowOptimizerKind kind) {
  return kind == RowOptimizerKind::kAdam ? "adam" : "adagrad";
}

SparseRowOptimizer::SparseRowOptimizer(int dim, RowOptimizerOptions options, BaseReader base)
    : dim_(dim), options_(options), base_(std::move(base)) {
  CHECK_GT(dim_, 0);
  CHECK(base_ != nullptr);
}

const float* SparseRowOptimizer::Find(uint64_t key, bool* created) const {
  auto it = slot_of_.find(key);
  if (it == slot_of_.end()) return nullptr;
  if (created != nullptr) *created = created_[it->second];
  return values_.data() + size_t{it->second} * dim_;
}

void SparseRowOptimizer::ForEach(
    const std::function<void(uint64_t key, const float* row)>& visit) const {
  for (size_t slot = 0; slot < keys_.size(); ++slot) {
    visit(keys_[slot], values_.data() + slot * dim_);
  }
}

uint64_t SparseRowOptimizer::bytes() const {
  return (values_.size() + state1_.size() + state2_.size()) * sizeof(float) +
         steps_.size() * sizeof(uint32_t) + keys_.size() * (sizeof(uint64_t) * 3);
}

StatusOr<uint64_t> SparseRowOptimizer::Apply(const uint64_t* keys, size_t n, const float* grads,
                                             uint64_t* created) {
  const size_t dim = static_cast<size_t>(dim_);
  // Refuse the whole push before touching anything.
  for (size_t i = 0; i < n; ++i) {
    for (size_t d = 0; d < dim; ++d) {
      if (!std::isfinite(grads[i * dim + d])) {
        return InvalidArgumentError("the gradient of key " + std::to_string(keys[i]) +
                                    " (position " + std::to_string(i) + ", value " +
                                    std::to_string(d) + ") is not finite; nothing was applied");
      }
    }
  }
  // Sum duplicates, keeping first-occurrence order.
  push_index_.clear();
  summed_.clear();
  std::vector<uint64_t> distinct;
  distinct.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] = push_index_.emplace(keys[i], static_cast<uint32_t>(distinct.size()));
    const float* g = grads + i * dim;
    if (inserted) {
      distinct.push_back(keys[i]);
      summed_.insert(summed_.end(), g, g + dim);
    } else {
      float* sum = summed_.data() + size_t{it->second} * dim;
      for (size_t d = 0; d < dim; ++d) sum[d] += g[d];
    }
  }
  // Rows entering the overlay start from the snapshot (read in one batch).
  std::vector<uint64_t> fresh;
  for (uint64_t key : distinct) {
    if (slot_of_.count(key) == 0) fresh.push_back(key);
  }
  uint64_t created_now = 0;
  if (!fresh.empty()) {
    std::vector<float> start(fresh.size() * dim, 0.0f);
    std::vector<bool> present(fresh.size(), false);
    IAK_RETURN_IF_ERROR(base_(fresh.data(), fresh.size(), start.data(), &present));
    for (size_t i = 0; i < fresh.size(); ++i) {
      const auto slot = static_cast<uint32_t>(keys_.size());
      slot_of_.emplace(fresh[i], slot);
      keys_.push_back(fresh[i]);
      created_.push_back(!present[i]);
      if (!present[i]) ++created_now;
      values_.insert(values_.end(), start.data() + i * dim, start.data() + (i + 1) * dim);
      state1_.resize(values_.size(), 0.0f);
      if (options_.kind == RowOptimizerKind::kAdam) {
        state2_.resize(values_.size(), 0.0f);
        steps_.push_back(0);
      }
    }
    num_created_ += created_now;
  }
  for (size_t j = 0; j < distinct.size(); ++j) {
    Step(slot_of_.at(distinct[j]), summed_.data() + j * dim);
  }
  if (created != nullptr) *created = created_now;
  return static_cast<uint64_t>(distinct.size());
}

void SparseRowOptimizer::Step(uint32_t slot, const float* g) {
  const size_t dim = static_cast<size_t>(dim_);
  float* w = values_.data() + size_t{slot} * dim;
  float* s1 = state1_.data() + size_t{slot} * dim;
  const float lr = options_.learning_rate;
  const float eps = options_.epsilon;
  if (options_.kind == RowOptimizerKind::kAdagrad) {
    for (size_t d = 0; d < dim; ++d) {
      s1[d] += g[d] * g[d];
      w[d] -= lr * g[d] / (std::sqrt(s1[d]) + eps);
    }
    return;
  }
  float* s2 = state2_.data() + size_t{slot} * dim;
  const uint32_t t = ++steps_[slot];
  const float b1 = options_.beta1;
  const float b2 = options_.beta2;
  const float c1 = 1.0f - std::pow(b1, static_cast<float>(t));
  const float c2 = 1.0f - std::pow(b2, static_cast<float>(t));
  for (size_t d = 0; d < dim; ++d) {
    s1[d] = b1 * s1[d] + (1.0f - b1) * g[d];
    s2[d] = b2 * s2[d] + (1.0f - b2) * g[d] * g[d];
    w[d] -= lr * (s1[d] / c1) / (std::sqrt(s2[d] / c2) + eps);
  }
}

}  // namespace iak::ps
