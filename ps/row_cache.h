// RowCache: a worker-side cache of frozen embedding rows (decoded float32),
// bounded in bytes. Rows never change during a job (the table is frozen), so
// there is no invalidation: a row, once fetched, is good until evicted.
//
// Structure: 8-way set-associative, CLOCK replacement within a set (a hit sets
// the way's reference bit; a miss evicts the first way of its set whose bit is
// clear, clearing bits as it passes). Hot keys of skewed (Zipf) traffic stay;
// one-off keys pass through. Lookup and insert are O(1) with no allocation.
//
// Thread-safety: not thread-safe (one per PsClient, which is single-threaded).
#ifndef IAK_PS_ROW_CACHE_H_
#define IAK_PS_ROW_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace iak::ps {

class RowCache {
 public:
  // A cache of rows of `dim` floats using at most about `budget_bytes` (rows
  // plus 16 bytes of bookkeeping each). A budget smaller than one set (8 rows)
  // yields a cache that holds nothing (capacity() == 0).
  RowCache(int dim, uint64_t budget_bytes);

  // The cached row of `key` (dim floats, valid until the next Insert), or
  // nullptr. Counts a hit or a miss.
  const float* Find(uint64_t key);

  // Starts loading the set of `key` into the CPU cache (a hint; call it some
  // keys ahead of Find so the misses of a batch overlap).
  void Prefetch(uint64_t key) const {
    if (num_sets_ == 0) return;
    const size_t base = SetOf(key) * kWays;
    __builtin_prefetch(&keys_[base]);
    __builtin_prefetch(&state_[base]);
  }

  // Caches `row` (dim floats) for `key`, evicting another row of its set if
  // the set is full. Inserting a key already cached overwrites its row.
  void Insert(uint64_t key, const float* row);

  size_t capacity() const { return keys_.size(); }
  size_t size() const { return size_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  // hits / (hits + misses) over the cache's life; 0 before any lookup.
  double hit_rate() const {
    const uint64_t total = hits_ + misses_;
    return total == 0 ? 0.0 : static_cast<double>(hits_) / static_cast<double>(total);
  }

 private:
  static constexpr size_t kWays = 8;

  size_t SetOf(uint64_t key) const;

  int dim_;
  size_t num_sets_ = 0;
  std::vector<uint64_t> keys_;   // num_sets_ * kWays
  std::vector<uint8_t> state_;   // bit 0: valid, bit 1: referenced
  std::vector<uint8_t> hand_;    // CLOCK hand per set
  std::vector<float> rows_;      // num_sets_ * kWays * dim_
  size_t size_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace iak::ps

#endif  // IAK_PS_ROW_CACHE_H_
