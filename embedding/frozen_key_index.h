// FrozenKeyIndex: an immutable open-addressing hash map from 64-bit keys to
// row numbers, built once from a key list and then only read. Linear probing
// over a power-of-two table at most half full, one 16-byte slot per probe, so
// a hit costs ~one cache miss (the goal is ~10 M lookups/s per core).
//
// Thread-safety: immutable after Build(); any number of threads may Find().
#ifndef IAK_EMBEDDING_FROZEN_KEY_INDEX_H_
#define IAK_EMBEDDING_FROZEN_KEY_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "embedding/huge_page_buffer.h"

namespace iak::embedding {

class FrozenKeyIndex {
 public:
  static constexpr uint32_t kAbsent = 0xffffffffu;
  // Rows are numbered with uint32; a shard holds fewer rows than this.
  static constexpr size_t kMaxRows = kAbsent;

  FrozenKeyIndex() = default;

  // Indexes keys[i] -> i. Keys must be distinct and keys.size() < kMaxRows
  // (CHECKed: callers validate untrusted input first).
  void Build(const std::vector<uint64_t>& keys);

  // Or built key by key, without a key list (a shard of 10^8 rows loads
  // without holding 0.8 GB of keys): Reserve(n) sizes the table for exactly
  // n keys (as Build would) and empties it; Insert(key) indexes key -> the
  // next row number (0, 1, ...). At most n Inserts of distinct keys
  // (CHECKed, as Build). Find is valid after any number of Inserts.
  void Reserve(size_t num_keys);
  void Insert(uint64_t key);

  // The row of `key`, or kAbsent.
  uint32_t Find(uint64_t key) const {
    if (num_slots_ == 0) return kAbsent;
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      const Slot& slot = slots()[i];
      if (slot.row == kAbsent) return kAbsent;
      if (slot.key == key) return slot.row;
    }
  }

  // rows_out[i] = Find(keys[i]); prefetches ahead to overlap cache misses.
  void FindBatch(const uint64_t* keys, size_t n, uint32_t* rows_out) const;

  // Starts loading the slot `key` hashes to into the cache (a hint only).
  void Prefetch(uint64_t key) const {
    if (num_slots_ != 0) __builtin_prefetch(&slots()[Home(key)]);
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    uint32_t row;  // kAbsent marks an empty slot (any key value is legal)
  };

  // Fibonacci hashing: the top bits of key * 2^64/phi.
  size_t Home(uint64_t key) const {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_);
  }

  const Slot* slots() const { return reinterpret_cast<const Slot*>(storage_.data()); }

  HugePageBuffer storage_;  // num_slots_ Slots
  size_t num_slots_ = 0;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
  size_t capacity_ = 0;  // keys the table was reserved for
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_FROZEN_KEY_INDEX_H_
