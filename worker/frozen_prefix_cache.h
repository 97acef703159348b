// FrozenPrefixCache: the output h of the frozen layers below the IAK, kept
// per sample so that epochs 2+ skip the embedding pulls and the frozen bottom.
//
// Why it is exact: the embedding tables and the bottom MLP are frozen, and
// the bottom's output row depends on the sample's input row only (see
// ParallelFineTuneStep::ForwardBottom), so the h stored in epoch 1 is the h
// every later epoch would recompute, bit for bit. The cache stores it as
// computed and hands it back unchanged.
//
// Rows live in memory up to `memory_budget_bytes`; past it they are appended
// to `spill_path` (created, truncated, removed by the destructor) and read
// back with pread. With an empty spill_path, rows past the budget are simply
// not cached (those samples are recomputed every epoch).
//
// Thread-safety: all methods may be called from any thread (one mutex);
// the pipeline's prefetch thread reads while the trainer thread writes.
#ifndef IAK_WORKER_FROZEN_PREFIX_CACHE_H_
#define IAK_WORKER_FROZEN_PREFIX_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace iak::worker {

struct FrozenPrefixCacheOptions {
  int width = 0;               // floats per sample (the dimension of h); > 0
  size_t num_samples = 0;      // sample ids are in [0, num_samples)
  size_t memory_budget_bytes = size_t{1} << 30;  // default 1 GiB
  std::string spill_path;      // file for rows past the budget; empty = none
};

struct FrozenPrefixCacheStats {
  uint64_t memory_rows = 0;
  uint64_t disk_rows = 0;
  uint64_t hits = 0;    // rows handed out by Get
  uint64_t stores = 0;  // rows stored by Put
};

class FrozenPrefixCache {
 public:
  // InvalidArgument for a bad width or too many samples. The spill file is
  // created by the first Put past the budget (IoError naming it if it cannot).
  [[nodiscard]] static StatusOr<std::unique_ptr<FrozenPrefixCache>> Create(
      const FrozenPrefixCacheOptions& options);
  ~FrozenPrefixCache();

  FrozenPrefixCache(const FrozenPrefixCache&) = delete;
  FrozenPrefixCache& operator=(const FrozenPrefixCache&) = delete;

  // True when every one of ids[0..n) is cached (n == 0: false).
  bool ContainsAll(const uint32_t* ids, int n) const;

  // Stores row i of h ([n x width]) for ids[i]; ids already cached (or past
  // the budget without a spill file) are skipped. IoError on a failed write.
  // InvalidArgument for an id >= num_samples.
  [[nodiscard]] Status Put(const uint32_t* ids, int n, const float* h);

  // Copies the cached rows of ids[0..n) to h_out ([n x width]).
  // NotFound when one is not cached; IoError on a failed read.
  [[nodiscard]] Status Get(const uint32_t* ids, int n, float* h_out) const;

  FrozenPrefixCacheStats stats() const;
  int width() const { return options_.width; }

 private:
  explicit FrozenPrefixCache(const FrozenPrefixCacheOptions& options);

  // Where a sample's row is: kNone, a memory row, or a disk row (tagged).
  static constexpr uint32_t kNone = 0xffffffffu;
  static constexpr uint32_t kDiskBit = 0x80000000u;

  FrozenPrefixCacheOptions options_;
  size_t max_memory_rows_ = 0;
  mutable std::mutex mu_;
  // Row of each cached sample id (only those: a worker streaming a set of
  // 10^8 samples keeps no per-sample array); guarded by mu_.
  std::unordered_map<uint32_t, uint32_t> location_;
  uint32_t Where(uint32_t id) const;  // kNone when not cached; mu_ held
  std::vector<float> memory_;       // guarded by mu_ (grows to the budget)
  uint32_t memory_rows_ = 0;        // guarded by mu_
  uint32_t disk_rows_ = 0;          // guarded by mu_
  int fd_ = -1;                     // guarded by mu_
  mutable uint64_t hits_ = 0;       // guarded by mu_
  uint64_t stores_ = 0;             // guarded by mu_
};

}  // namespace iak::worker

#endif  // IAK_WORKER_FROZEN_PREFIX_CACHE_H_
