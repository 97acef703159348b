// RowSource: where a worker gets the frozen embedding rows of a batch's
// unique keys. Two implementations: PsRowSource pulls them from the
// parameter servers (the distributed path) and MemoryRowSource copies them
// from a table held in this process (single-process tools, benchmarks).
//
// Thread-safety: a RowSource is used by one thread at a time (the pipeline's
// prefetch thread); MemoryRowSource's table may be shared.
#ifndef IAK_WORKER_ROW_SOURCE_H_
#define IAK_WORKER_ROW_SOURCE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "embedding/frozen_key_index.h"
#include "model/embedding_pooling.h"
#include "ps/ps_client.h"

namespace iak::worker {

class RowSource {
 public:
  virtual ~RowSource() = default;
  // Fills rows_out (n * dim floats) with the rows of keys[0..n) in order;
  // absent keys get zero rows. Errors are the source's (a failed pull).
  [[nodiscard]] virtual Status Fetch(const uint64_t* keys, size_t n, float* rows_out) = 0;
};

// Pulls through a connected PsClient (not owned; must outlive this).
// Pull statistics a worker reports in its heartbeats (read from the
// heartbeat thread while the pipeline thread pulls).
struct PullMonitor {
  std::atomic<double> mean_pull_ms{0};    // moving average over recent pulls
  std::atomic<double> cache_hit_rate{0};  // of the row cache, over its life
};

class PsRowSource : public RowSource {
 public:
  // `monitor` (may be null) must outlive the source.
  explicit PsRowSource(ps::PsClient* client, PullMonitor* monitor = nullptr)
      : client_(client), monitor_(monitor) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override {
    ps::PullStats stats;
    Status pulled = client_->Pull(keys, n, rows_out, &stats);
    if (monitor_ != nullptr && pulled.ok()) {
      // An exponential moving average: recent pulls weigh most.
      const double ms = stats.elapsed.count() / 1000.0;
      const double old = monitor_->mean_pull_ms.load();
      monitor_->mean_pull_ms.store(old == 0 ? ms : 0.9 * old + 0.1 * ms);
      monitor_->cache_hit_rate.store(stats.cache_hit_rate);
    }
    return pulled;
  }

 private:
  ps::PsClient* client_;
  PullMonitor* monitor_;
};

// An immutable in-memory table: one contiguous row array and a FrozenKeyIndex.
class MemoryRowSource : public RowSource {
 public:
  // Copies `table` (key -> dim floats; every row must have dim floats).
  MemoryRowSource(const std::unordered_map<uint64_t, std::vector<float>>& table, int dim);

  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override;

  // The row of `key` (dim floats, valid while this lives) or nullptr.
  const float* Find(uint64_t key) const {
    const uint32_t row = index_.Find(key);
    return row == embedding::FrozenKeyIndex::kAbsent
               ? nullptr
               : rows_.data() + static_cast<size_t>(row) * dim_;
  }
  int dim() const { return dim_; }
  size_t num_rows() const { return index_.size(); }
  // Row numbers of keys[0..n) (kAbsent when absent) and the row array they
  // index, for callers that resolve keys once (ResolvedRows).
  void FindRows(const uint64_t* keys, size_t n, uint32_t* rows_out) const {
    index_.FindBatch(keys, n, rows_out);
  }
  const float* row_data() const { return rows_.data(); }

 private:
  int dim_;
  embedding::FrozenKeyIndex index_;
  std::vector<float> rows_;
  std::vector<uint32_t> scratch_;  // row numbers of one Fetch
};

// Rows from any RowLookup held in this process (a model directory's table
// opened locally: single-process training and evaluation). Absent keys get
// zero rows, as from the servers. `rows` must outlive the source.
class LookupRowSource : public RowSource {
 public:
  LookupRowSource(const model::RowLookup* rows, int dim) : rows_(rows), dim_(dim) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override;

 private:
  const model::RowLookup* rows_;
  int dim_;
};

// Copies `row` (dim floats) to out, or zeros when row is null (an absent key).
void CopyRowOrZero(const float* row, int dim, float* out);

class PulledRows;
// Pools samples ids[0..n) of `data` into x [n x num_fields*dim] with one
// Fetch of their unique keys from `source`; `scratch` holds the rows.
[[nodiscard]] Status FetchAndPool(const data::Dataset& data, const uint32_t* ids, int n,
                                  RowSource* source, PulledRows* scratch, float* x);

}  // namespace iak::worker

#endif  // IAK_WORKER_ROW_SOURCE_H_
