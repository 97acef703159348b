// ResolvedRows: the frozen rows of a dataset's keys, resolved once, for
// sources whose rows are a frozen table in this process
// (RowSource::ResolveRows: MemoryRowSource, a model directory's table opened
// locally) or kept here once pulled (PinnedRowSource). Each entry of
// data.keys gets a pointer to its row the first time a batch holds its
// sample; from then on its batches pool straight from the
// table by that pointer: no deduplication, no hashing, no lookup and no copy
// into a pull buffer. The numbers are those of the per-batch path
// (PulledRows: dedup, Fetch, Pool): the same rows, pooled by the same
// model::PoolSampleRows, an absent key as a zero row.
//
// Memory: one pointer per entry of data.keys (8 bytes, against the
// dataset's 16 per entry for the key and its offset), allocated with the
// first batch. Sources that fetch from the servers pool per batch instead,
// unless a PinnedRowSource keeps their rows.
//
// Thread-safety: none; one thread at a time (the pipeline's).
#ifndef IAK_WORKER_RESOLVED_ROWS_H_
#define IAK_WORKER_RESOLVED_ROWS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "worker/row_source.h"

namespace iak::worker {

class ResolvedRows {
 public:
  // Null when `source` cannot resolve rows (RowSource::resolves_rows_of).
  // `data` and `source` must outlive the object, and the dataset must not
  // change; rows are `dim` floats.
  static std::unique_ptr<ResolvedRows> Make(const data::Dataset* data, RowSource* source,
                                            int dim);

  // Pools samples ids[0..n) of the dataset into x [n x num_fields*dim],
  // resolving the keys of samples no batch held before. Errors: the
  // source's, from resolving (a failed pull); nothing is resolved then.
  [[nodiscard]] Status Pool(const uint32_t* ids, int n, float* x);

  const data::Dataset* data() const { return data_; }
  int dim() const { return dim_; }
  RowSource* source() const { return source_; }

 private:
  ResolvedRows(const data::Dataset* data, RowSource* source, int dim);
  // Resolves the keys of the samples of ids[0..n) not resolved yet.
  [[nodiscard]] Status Resolve(const uint32_t* ids, int n);

  const data::Dataset* data_;
  RowSource* source_;
  int dim_;
  std::vector<float> zero_row_;        // where absent keys point
  std::vector<const float*> row_of_;   // per entry of data.keys; null: not resolved yet
  std::vector<size_t> pending_;        // Resolve(): entries being resolved
  std::vector<uint64_t> keys_;         // Resolve(): their keys
  std::vector<const float*> found_;    // Resolve(): their rows
};

}  // namespace iak::worker

#endif  // IAK_WORKER_RESOLVED_ROWS_H_
