// PulledRows: the embedding rows of one batch's unique keys, as pulled from
// the parameter servers, seen through the RowLookup interface that pooling
// uses. Buffers are reused from batch to batch.
//
// CollectKeys deduplicates with an open-addressing table that is emptied by
// bumping a generation counter (no per-batch clearing or allocation), and
// remembers, for every key occurrence of the batch, which unique row it is;
// Pool() then gathers by that index with no hashing at all.
//
// Thread-safety: none; one per worker thread.
#ifndef IAK_WORKER_PULLED_ROWS_H_
#define IAK_WORKER_PULLED_ROWS_H_

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "model/embedding_pooling.h"

namespace iak::worker {

class PulledRows : public model::RowLookup {
 public:
  explicit PulledRows(int dim) : dim_(dim) {}

  // Collects the unique keys of `batch` samples (in first-seen order).
  void CollectKeys(const data::Dataset& data, const uint32_t* sample_ids, int batch);

  const std::vector<uint64_t>& keys() const { return keys_; }
  // Room for keys().size() rows, to be filled by the pull.
  float* rows() { return rows_.data(); }

  // PoolBatch of the collected samples (same ids, same order as the last
  // CollectKeys) into x [batch x num_fields*dim], by direct index.
  void Pool(const data::Dataset& data, const uint32_t* sample_ids, int batch, float* x) const;

  // A key the servers did not have comes back as a zero row; so does any key
  // not collected (which would be a bug upstream).
  const float* Find(uint64_t key) const override;

 private:
  struct Slot {
    uint64_t key;
    uint32_t generation;  // the slot is empty unless == generation_
    uint32_t row;
  };
  size_t Home(uint64_t key) const {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_);
  }
  // Makes room for `n` keys at most half full; may empty the table.
  void Reserve(size_t n);

  int dim_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> occurrence_rows_;  // per key occurrence: index in keys_
  std::vector<float> rows_;
  std::vector<Slot> table_;
  size_t mask_ = 0;
  int shift_ = 64;
  uint32_t generation_ = 0;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_PULLED_ROWS_H_
