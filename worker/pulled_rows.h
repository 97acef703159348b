// PulledRows: the embedding rows of one batch's unique keys, as pulled from
// the parameter servers, seen through the RowLookup interface that pooling
// uses. Buffers are reused from batch to batch.
//
// Thread-safety: none; one per worker thread.
#ifndef IAK_WORKER_PULLED_ROWS_H_
#define IAK_WORKER_PULLED_ROWS_H_

#include <cstdint>
#include <unordered_map>
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

  // A key the servers did not have comes back as a zero row; so does any key
  // not collected (which would be a bug upstream).
  const float* Find(uint64_t key) const override {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : rows_.data() + static_cast<size_t>(it->second) * dim_;
  }

 private:
  int dim_;
  std::vector<uint64_t> keys_;
  std::unordered_map<uint64_t, uint32_t> index_;
  std::vector<float> rows_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_PULLED_ROWS_H_
