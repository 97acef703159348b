#include "embedding/frozen_key_index.h"

#include <glog/logging.h>

namespace iak::embedding {

void FrozenKeyIndex::Build(const std::vector<uint64_t>& keys) {
  Reserve(keys.size());
  for (uint64_t key : keys) Insert(key);
}

void FrozenKeyIndex::Reserve(size_t num_keys) {
  CHECK_LT(num_keys, kMaxRows);
  capacity_ = num_keys;
  size_ = 0;
  int bits = 4;
  while ((size_t{1} << bits) < 2 * num_keys) ++bits;
  num_slots_ = size_t{1} << bits;
  storage_ = HugePageBuffer(num_slots_ * sizeof(Slot));
  Slot* slots = reinterpret_cast<Slot*>(storage_.data());
  for (size_t i = 0; i < num_slots_; ++i) slots[i] = Slot{0, kAbsent};
  mask_ = num_slots_ - 1;
  shift_ = 64 - bits;
}

void FrozenKeyIndex::Insert(uint64_t key) {
  CHECK_LT(size_, capacity_) << "FrozenKeyIndex::Insert beyond the reserved " << capacity_;
  Slot* slots = reinterpret_cast<Slot*>(storage_.data());
  size_t i = Home(key);
  while (slots[i].row != kAbsent) {
    CHECK_NE(slots[i].key, key) << "duplicate key " << key;
    i = (i + 1) & mask_;
  }
  slots[i] = Slot{key, static_cast<uint32_t>(size_)};
  ++size_;
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
