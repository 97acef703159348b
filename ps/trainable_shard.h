// TrainableShard: what a trainable parameter server serves (docs/trainable_ps.md):
// the frozen snapshot shard (EmbeddingShard, untouched) plus an fp32 overlay
// of the rows pushes have updated (SparseRowOptimizer). Pulls read the
// overlay row when there is one and the snapshot row (decoded to float32)
// otherwise; at the end WriteSnapshot() writes the shard of a new, float32
// snapshot: every snapshot row, trained rows replaced, new rows added.
//
// Thread-safety: not thread-safe; the PS drives it from its RPC thread.
#ifndef IAK_PS_TRAINABLE_SHARD_H_
#define IAK_PS_TRAINABLE_SHARD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/embedding_shard.h"
#include "proto/iak.pb.h"
#include "ps/sparse_row_optimizer.h"

namespace iak::ps {

class TrainableShard {
 public:
  // `base` is not owned and must outlive this; `model_dir` and `manifest`
  // describe the snapshot it belongs to.
  TrainableShard(const embedding::EmbeddingShard* base, std::string model_dir,
                 proto::ModelManifest manifest, RowOptimizerOptions options);

  // Rows of keys[0..n) as n * dim float32 into `out`; absent keys (in neither
  // the overlay nor the snapshot) get zero rows. Returns how many were absent.
  [[nodiscard]] StatusOr<uint64_t> ReadRows(const uint64_t* keys, size_t n, float* out);

  // One push (see SparseRowOptimizer::Apply).
  [[nodiscard]] StatusOr<uint64_t> Apply(const uint64_t* keys, size_t n, const float* grads,
                                         uint64_t* created);

  // Writes this shard of the trained snapshot into `out_dir` (see
  // embedding/trained_snapshot.h), reading the snapshot's rows from its
  // RocksDB. Errors: those of ScanShard for the source, WriteTrainedShard.
  [[nodiscard]] Status WriteSnapshot(const std::string& out_dir) const;

  const SparseRowOptimizer& optimizer() const { return optimizer_; }
  uint64_t pushes() const { return pushes_; }

 private:
  Status ReadBase(const uint64_t* keys, size_t n, float* out, std::vector<bool>* present) const;

  const embedding::EmbeddingShard* base_;
  std::string model_dir_;
  proto::ModelManifest manifest_;
  SparseRowOptimizer optimizer_;
  uint64_t pushes_ = 0;
  std::string encoded_;  // scratch for quantised snapshot rows
};

}  // namespace iak::ps

#endif  // IAK_PS_TRAINABLE_SHARD_H_
