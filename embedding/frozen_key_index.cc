#include "embedding/frozen_key_index.h"

#include <glog/logging.h>

namespace iak::embedding {

void FrozenKeyIndex::Build(const std::vector<uint64_t>& keys) {
  CHECK_LT(keys.size(), kMaxRows);
  size_ = keys.size();
  int bits = 4;
  while ((size_t{1} << bits) < 2 * keys.size()) ++bits;
  num_slots_ = size_t{1} << bits;
  storage_ = HugePageBuffer(num_slots_ * sizeof(Slot));
  Slot* slots = reinterpret_cast<Slot*>(storage_.data());
  for (size_t i = 0; i < num_slots_; ++i) slots[i] = Slot{0, kAbsent};
  mask_ = num_slots_ - 1;
  shift_ = 64 - bits;
  for (size_t row = 0; row < keys.size(); ++row) {
    size_t i = Home(keys[row]);
    while (slots[i].row != kAbsent) {
      CHECK_NE(slots[i].key, keys[row]) << "duplicate key " << keys[row];
      i = (i + 1) & mask_;
    }
    slots[i] = Slot{keys[row], static_cast<uint32_t>(row)};
  }
}

void FrozenKeyIndex::FindBatch(const uint64_t* keys, size_t n, uint32_t* rows_out) const {
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < n && i < kAhead; ++i) Prefetch(keys[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) Prefetch(keys[i + kAhead]);
    rows_out[i] = Find(keys[i]);
  }
}

}  // namespace iak::embedding
