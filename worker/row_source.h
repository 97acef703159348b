// RowSource: where a worker gets the frozen embedding rows of a batch's
// unique keys. Two implementations: PsRowSource pulls them from the
// parameter servers (the distributed path) and MemoryRowSource copies them
// from a table held in this process (single-process tools, benchmarks).
//
// Thread-safety: a RowSource is used by one thread at a time (the pipeline's
// prefetch thread); MemoryRowSource's table may be shared.
#ifndef IAK_WORKER_ROW_SOURCE_H_
#define IAK_WORKER_ROW_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "embedding/frozen_key_index.h"
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
class PsRowSource : public RowSource {
 public:
  explicit PsRowSource(ps::PsClient* client) : client_(client) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override {
    return client_->Pull(keys, n, rows_out, nullptr);
  }

 private:
  ps::PsClient* client_;
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

}  // namespace iak::worker

#endif  // IAK_WORKER_ROW_SOURCE_H_
