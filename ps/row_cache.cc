#include "ps/row_cache.h"

#include <cstring>

#include "common/keys.h"

namespace iak::ps {
namespace {

constexpr uint8_t kValid = 1;
constexpr uint8_t kReferenced = 2;

}  // namespace

RowCache::RowCache(int dim, uint64_t budget_bytes) : dim_(dim) {
  const uint64_t per_row = static_cast<uint64_t>(dim) * sizeof(float) + 16;
  num_sets_ = dim <= 0 ? 0 : static_cast<size_t>(budget_bytes / per_row / kWays);
  keys_.assign(num_sets_ * kWays, 0);
  state_.assign(num_sets_ * kWays, 0);
  hand_.assign(num_sets_, 0);
  rows_.assign(num_sets_ * kWays * static_cast<size_t>(dim_ > 0 ? dim_ : 0), 0.0f);
}

size_t RowCache::SetOf(uint64_t key) const {
  // Mix first: keys from FeatureKey are already mixed, but callers may use
  // small consecutive keys.
  return static_cast<size_t>(Mix64(key ^ 0x2545f4914f6cdd1dULL) % num_sets_);
}

const float* RowCache::Find(uint64_t key) {
  if (num_sets_ == 0) {
    ++misses_;
    return nullptr;
  }
  const size_t base = SetOf(key) * kWays;
  for (size_t w = base; w < base + kWays; ++w) {
    if ((state_[w] & kValid) != 0 && keys_[w] == key) {
      state_[w] |= kReferenced;
      ++hits_;
      return rows_.data() + w * static_cast<size_t>(dim_);
    }
  }
  ++misses_;
  return nullptr;
}

void RowCache::Insert(uint64_t key, const float* row) {
  if (num_sets_ == 0) return;
  const size_t set = SetOf(key);
  const size_t base = set * kWays;
  size_t victim = kWays;
  for (size_t w = 0; w < kWays; ++w) {
    const uint8_t s = state_[base + w];
    if ((s & kValid) != 0 && keys_[base + w] == key) {
      victim = w;  // already cached: refresh in place
      break;
    }
    if ((s & kValid) == 0 && victim == kWays) victim = w;
  }
  if (victim == kWays) {
    // CLOCK: skip (and clear) referenced ways; at most one full turn.
    uint8_t& hand = hand_[set];
    for (size_t step = 0; step <= kWays; ++step) {
      uint8_t& s = state_[base + hand];
      if ((s & kReferenced) == 0) break;
      s &= static_cast<uint8_t>(~kReferenced);
      hand = static_cast<uint8_t>((hand + 1) % kWays);
    }
    victim = hand;
    hand = static_cast<uint8_t>((hand + 1) % kWays);
  }
  const size_t w = base + victim;
  if ((state_[w] & kValid) == 0) ++size_;
  keys_[w] = key;
  state_[w] = kValid;
  std::memcpy(rows_.data() + w * static_cast<size_t>(dim_), row,
              static_cast<size_t>(dim_) * sizeof(float));
}

}  // namespace iak::ps
