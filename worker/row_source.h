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
#include "embedding/huge_page_buffer.h"
#include "model/embedding_pooling.h"
#include "proto/job_spec.pb.h"
#include "ps/ps_client.h"

namespace iak::worker {

class RowSource {
 public:
  virtual ~RowSource() = default;
  // Fills rows_out (n * dim floats) with the rows of keys[0..n) in order;
  // absent keys get zero rows. Errors are the source's (a failed pull).
  [[nodiscard]] virtual Status Fetch(const uint64_t* keys, size_t n, float* rows_out) = 0;

  // Whether ResolveRows works for the keys of `data`: sources whose rows
  // are a frozen table in this process (MemoryRowSource, LookupRowSource),
  // for any data; a PinnedRowSource for the data it keeps the rows of.
  // Sources that fetch from elsewhere (the servers) say false. Lets a caller
  // resolve keys once (ResolvedRows) instead of fetching rows per batch.
  virtual bool resolves_rows_of(const data::Dataset* data) const {
    (void)data;
    return false;
  }
  // Writes, for keys[0..n), a pointer to each key's row (dim floats, valid
  // and unchanged while the source lives) or null for an absent key, for any
  // n (0 included). Errors: the source's (a failed fetch);
  // FailedPrecondition for keys the source cannot resolve.
  [[nodiscard]] virtual Status ResolveRows(const uint64_t* keys, size_t n,
                                           const float** rows_out);
};

// Pull statistics a worker reports in its heartbeats (read from the
// heartbeat thread while the pipeline thread pulls), and the guard against a
// table whose keys do not match the data: every pull's `missing` count (keys
// absent from the snapshot, answered with zero rows) is summed, logged, and
// fails the pull once the missing fraction passes the job's
// max_missing_key_rate.
struct PullMonitor {
  std::atomic<double> mean_pull_ms{0};    // moving average over recent pulls
  std::atomic<double> cache_hit_rate{0};  // of the row cache, over its life
  // Keys looked up on the servers (row-cache hits excluded) and, of those,
  // absent from the snapshot, over the worker's life.
  std::atomic<uint64_t> keys_looked_up{0};
  std::atomic<uint64_t> keys_missing{0};
  // Key occurrences read from rows kept once pulled (PinnedRowSource) past
  // the pulls that fetched them, and of those, reads of a zero row (absent
  // from the snapshot, or a row of zeros, which scores alike). The guard
  // counts them with the servers' lookups, so that with rows kept its rate
  // is per key occurrence of the data, not per distinct key.
  std::atomic<uint64_t> kept_reads{0};
  std::atomic<uint64_t> kept_reads_missing{0};

  // The job's limit (JobSpec.max_missing_key_rate, min_missing_key_lookups):
  // RecordPull fails once at least `min_lookups` keys were looked up and more
  // than `max_rate` of them were missing. Until called: the spec's defaults
  // (0.9 after 10000 lookups), so every loop that feeds a monitor is guarded.
  void SetMissingKeyLimit(double max_rate, int64_t min_lookups) {
    max_missing_rate_ = max_rate;
    min_lookups_ = min_lookups > 0 ? static_cast<uint64_t>(min_lookups) : 1;
  }
  // The same from a job spec (after job::ApplyDefaults).
  void SetMissingKeyLimit(const proto::JobSpec& spec) {
    SetMissingKeyLimit(spec.max_missing_key_rate(), spec.min_missing_key_lookups());
  }

  // Keys read (looked up on the servers, or read from kept rows), of those
  // the ones missing, and their fraction: what the guard, the heartbeats
  // and the logs count.
  uint64_t keys_read() const { return keys_looked_up.load() + kept_reads.load(); }
  uint64_t keys_read_missing() const { return keys_missing.load() + kept_reads_missing.load(); }
  double missing_key_rate() const {
    const uint64_t read = keys_read();
    return read == 0 ? 0.0 : static_cast<double>(keys_read_missing()) / read;
  }

  // Accounts one successful pull. FailedPrecondition (saying which fraction
  // of keys is missing, the limit and what to check) when the rate is past
  // the limit; logs a warning once when a tenth of the keys are missing.
  [[nodiscard]] Status RecordPull(const ps::PullStats& stats);
  // Accounts `reads` reads of kept rows, `missing` of them of zero rows;
  // the same check.
  [[nodiscard]] Status RecordKeptReads(uint64_t reads, uint64_t missing);

 private:
  [[nodiscard]] Status CheckMissingRate();

  double max_missing_rate_ = 0.9;  // only touched by the pulling thread
  uint64_t min_lookups_ = 10000;
  bool warned_ = false;
};

// Pulls through a connected PsClient (not owned; must outlive this).
class PsRowSource : public RowSource {
 public:
  // `monitor` (may be null) must outlive the source.
  explicit PsRowSource(ps::PsClient* client, PullMonitor* monitor = nullptr)
      : client_(client), monitor_(monitor) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override {
    ps::PullStats stats;
    Status pulled = client_->Pull(keys, n, rows_out, &stats);
    if (monitor_ != nullptr && pulled.ok()) return monitor_->RecordPull(stats);
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
  bool resolves_rows_of(const data::Dataset*) const override { return true; }
  Status ResolveRows(const uint64_t* keys, size_t n, const float** rows_out) override;

  // The row of `key` (dim floats, valid while this lives) or nullptr.
  const float* Find(uint64_t key) const {
    const uint32_t row = index_.Find(key);
    return row == embedding::FrozenKeyIndex::kAbsent
               ? nullptr
               : row_data() + static_cast<size_t>(row) * dim_;
  }
  int dim() const { return dim_; }
  size_t num_rows() const { return index_.size(); }

 private:
  const float* row_data() const { return reinterpret_cast<const float*>(rows_.data()); }

  int dim_;
  embedding::FrozenKeyIndex index_;
  // In 2 MiB pages (aligned, so a 64-byte row is one cache line): batches
  // read rows at random from a table far larger than the caches, and with
  // 4 KiB pages nearly every row would also cost a TLB miss.
  embedding::HugePageBuffer rows_;
  std::vector<uint32_t> scratch_;  // row numbers of one Fetch
};

// Rows from any RowLookup held in this process (a model directory's table
// opened locally: single-process training and evaluation). Absent keys get
// zero rows, as from the servers. `rows` must outlive the source and is a
// frozen table: the rows Find returns stay where they are, unchanged, while
// the source lives (ResolveRows hands those pointers out).
class LookupRowSource : public RowSource {
 public:
  LookupRowSource(const model::RowLookup* rows, int dim) : rows_(rows), dim_(dim) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override;
  bool resolves_rows_of(const data::Dataset*) const override { return true; }
  Status ResolveRows(const uint64_t* keys, size_t n, const float** rows_out) override;

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
