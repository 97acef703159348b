// ResolvedRows: every key of a dataset resolved once to its row of a table
// held in this process (MemoryRowSource). The table is frozen, so the answer
// never changes: batches then pool by direct index, with no deduplication,
// no hashing and no row copies into a pull buffer. This is the local-table
// path of the pipeline; the distributed path pulls from the PS instead.
//
// Thread-safety: immutable after construction.
#ifndef IAK_WORKER_RESOLVED_ROWS_H_
#define IAK_WORKER_RESOLVED_ROWS_H_

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "worker/row_source.h"

namespace iak::worker {

class ResolvedRows {
 public:
  // `table` must outlive this object; `data` is only read here.
  ResolvedRows(const data::Dataset& data, const MemoryRowSource* table);

  // PoolBatch of samples ids[0..n) of the same dataset into x.
  void Pool(const data::Dataset& data, const uint32_t* ids, int n, float* x) const;

 private:
  const MemoryRowSource* table_;
  std::vector<uint32_t> row_of_key_;  // per entry of data.keys; kAbsent when absent
};

}  // namespace iak::worker

#endif  // IAK_WORKER_RESOLVED_ROWS_H_
