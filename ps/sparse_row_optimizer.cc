#include "ps/sparse_row_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include <glog/logging.h>

#include "common/keys.h"

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

void AdagradRowStep(float* w, float* acc, const float* g, size_t dim, float lr, float eps) {
  for (size_t d = 0; d < dim; ++d) {
    acc[d] += g[d] * g[d];
    w[d] -= lr * g[d] / (std::sqrt(acc[d]) + eps);
  }
}

void SeededInitRow(uint64_t seed, float scale, uint64_t key, int dim, float* out) {
  const uint64_t row = Mix64(seed ^ Mix64(key));
  for (int j = 0; j < dim; ++j) {
    const float u = HashToUnitFloat(Mix64(row + static_cast<uint64_t>(j)));
    out[j] = (2.0f * u - 1.0f) * scale;
  }
}

SparseRowOptimizer::SparseRowOptimizer(int dim, RowOptimizerOptions options, BaseReader base)
    : dim_(dim), options_(options), base_(std::move(base)) {
  CHECK_GT(dim_, 0);
  CHECK(base_ != nullptr);
}

namespace {

inline uint64_t IndexHash(uint64_t key) { return Mix64(key ^ 0x9e3779b97f4a7c15ULL); }

}  // namespace

uint32_t SparseRowOptimizer::FindSlot(uint64_t key) const {
  if (index_keys_.empty()) return kNoSlot;
  const size_t mask = index_keys_.size() - 1;
  for (size_t i = IndexHash(key) & mask;; i = (i + 1) & mask) {
    const uint32_t slot = index_slots_[i];
    if (slot == kNoSlot || index_keys_[i] == key) return slot;
  }
}

void SparseRowOptimizer::Grow() {
  const size_t capacity = index_keys_.empty() ? 1024 : index_keys_.size() * 2;
  index_keys_.assign(capacity, 0);
  index_slots_.assign(capacity, kNoSlot);
  const size_t mask = capacity - 1;
  for (uint32_t slot = 0; slot < keys_.size(); ++slot) {
    size_t i = IndexHash(keys_[slot]) & mask;
    while (index_slots_[i] != kNoSlot) i = (i + 1) & mask;
    index_keys_[i] = keys_[slot];
    index_slots_[i] = slot;
  }
}

uint32_t SparseRowOptimizer::AddSlot(uint64_t key, const float* start, bool created) {
  const auto slot = static_cast<uint32_t>(keys_.size());
  keys_.push_back(key);
  if (keys_.size() * 2 > index_keys_.size()) {
    Grow();  // re-inserts every key, this one included
  } else {
    const size_t mask = index_keys_.size() - 1;
    size_t i = IndexHash(key) & mask;
    while (index_slots_[i] != kNoSlot) i = (i + 1) & mask;
    index_keys_[i] = key;
    index_slots_[i] = slot;
  }
  created_.push_back(created);
  if (created) ++num_created_;
  values_.insert(values_.end(), start, start + dim_);
  state1_.resize(values_.size(), 0.0f);
  if (options_.kind == RowOptimizerKind::kAdam) {
    state2_.resize(values_.size(), 0.0f);
    steps_.push_back(0);
  }
  seen_epoch_.push_back(0);
  push_position_.push_back(0);
  return slot;
}

const float* SparseRowOptimizer::Find(uint64_t key, bool* created) const {
  const uint32_t slot = FindSlot(key);
  if (slot == kNoSlot) return nullptr;
  if (created != nullptr) *created = created_[slot];
  return values_.data() + size_t{slot} * dim_;
}

void SparseRowOptimizer::AbsentRow(uint64_t key, float* out) const {
  if (inits_absent_rows()) {
    SeededInitRow(options_.init_seed, options_.init_scale, key, dim_, out);
  } else {
    std::memset(out, 0, sizeof(float) * static_cast<size_t>(dim_));
  }
}

void SparseRowOptimizer::ForEach(
    const std::function<void(uint64_t key, const float* row)>& visit) const {
  for (size_t slot = 0; slot < keys_.size(); ++slot) {
    visit(keys_[slot], values_.data() + slot * dim_);
  }
}

uint64_t SparseRowOptimizer::bytes() const {
  return (values_.size() + state1_.size() + state2_.size()) * sizeof(float) +
         steps_.size() * sizeof(uint32_t) + keys_.size() * (sizeof(uint64_t) + 9) +
         index_keys_.size() * (sizeof(uint64_t) + sizeof(uint32_t));
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
  // Rows entering the overlay start from the snapshot, read in one batch
  // before any row changes (a failed read applies nothing).
  std::vector<uint64_t> fresh;
  for (size_t i = 0; i < n; ++i) {
    if (FindSlot(keys[i]) == kNoSlot) fresh.push_back(keys[i]);
  }
  uint64_t created_now = 0;
  if (!fresh.empty()) {
    std::sort(fresh.begin(), fresh.end());
    fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
    std::vector<float> start(fresh.size() * dim, 0.0f);
    std::vector<bool> present(fresh.size(), false);
    IAK_RETURN_IF_ERROR(base_(fresh.data(), fresh.size(), start.data(), &present));
    for (size_t i = 0; i < fresh.size(); ++i) {
      if (!present[i]) AbsentRow(fresh[i], start.data() + i * dim);
      AddSlot(fresh[i], start.data() + i * dim, !present[i]);
      if (!present[i]) ++created_now;
    }
  }
  // Sum duplicates (first-occurrence order), then one step per distinct row.
  if (++epoch_ == 0) {  // wrapped: forget every mark
    std::fill(seen_epoch_.begin(), seen_epoch_.end(), 0u);
    epoch_ = 1;
  }
  distinct_.clear();
  summed_.clear();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t slot = FindSlot(keys[i]);
    const float* g = grads + i * dim;
    if (seen_epoch_[slot] != epoch_) {
      seen_epoch_[slot] = epoch_;
      push_position_[slot] = static_cast<uint32_t>(distinct_.size());
      distinct_.push_back(slot);
      summed_.insert(summed_.end(), g, g + dim);
    } else {
      float* sum = summed_.data() + size_t{push_position_[slot]} * dim;
      for (size_t d = 0; d < dim; ++d) sum[d] += g[d];
    }
  }
  for (size_t j = 0; j < distinct_.size(); ++j) Step(distinct_[j], summed_.data() + j * dim);
  if (created != nullptr) *created = created_now;
  return static_cast<uint64_t>(distinct_.size());
}

void SparseRowOptimizer::Step(uint32_t slot, const float* g) {
  const size_t dim = static_cast<size_t>(dim_);
  float* w = values_.data() + size_t{slot} * dim;
  float* s1 = state1_.data() + size_t{slot} * dim;
  const float lr = options_.learning_rate;
  const float eps = options_.epsilon;
  if (options_.kind == RowOptimizerKind::kAdagrad) {
    AdagradRowStep(w, s1, g, dim, lr, eps);
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
