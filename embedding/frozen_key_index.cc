#include "embedding/frozen_key_index.h"

#include <glog/logging.h>

namespace iak::embedding {

void FrozenKeyIndex::Build(const std::vector<uint64_t>& keys) {
  CHECK_LT(keys.size(), kMaxRows);
  size_ = keys.size();
  int bits = 4;
  while ((size_t{1} << bits) < 2 * keys.size()) ++bits;
  slots_.assign(size_t{1} << bits, Slot{0, kAbsent});
  mask_ = slots_.size() - 1;
  shift_ = 64 - bits;
  for (size_t row = 0; row < keys.size(); ++row) {
    size_t i = Home(keys[row]);
    while (slots_[i].row != kAbsent) {
      CHECK_NE(slots_[i].key, keys[row]) << "duplicate key " << keys[row];
      i = (i + 1) & mask_;
    }
    slots_[i] = Slot{keys[row], static_cast<uint32_t>(row)};
  }
}

void FrozenKeyIndex::FindBatch(const uint64_t* keys, size_t n, uint32_t* rows_out) const {
  constexpr size_t kAhead = 8;
  if (!slots_.empty()) {
    for (size_t i = 0; i < n && i < kAhead; ++i) __builtin_prefetch(&slots_[Home(keys[i])]);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && !slots_.empty()) __builtin_prefetch(&slots_[Home(keys[i + kAhead])]);
    rows_out[i] = Find(keys[i]);
  }
}

}  // namespace iak::embedding
