// TrainableShard: what a trainable parameter server serves (docs/trainable_ps.md):
// the frozen snapshot shard (EmbeddingShard, untouched) plus an fp32 overlay
// of the rows pushes have updated (SparseRowOptimizer). Pulls read the
// overlay row when there is one and the snapshot row (decoded to float32)
// otherwise; at the end WriteSnapshot() writes the shard of a new, float32
// snapshot: every snapshot row, trained rows replaced, new rows added.
//
// SaveOverlay()/RestoreOverlay() keep one copy of the overlay (rows and
// optimizer state) so that a job can end at its best validation point: the
// copy is a full copy, so while one is held the overlay takes twice its
// memory. WriteSnapshot() writes the live overlay (after a restore: the
// restored rows).
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
#include "proto/model_manifest.pb.h"
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
  // With the options' init_scale > 0 absent keys read as their seeded init
  // rows (SparseRowOptimizer::AbsentRow) and none counts as absent.
  [[nodiscard]] StatusOr<uint64_t> ReadRows(const uint64_t* keys, size_t n, float* out);

  // One push (see SparseRowOptimizer::Apply).
  [[nodiscard]] StatusOr<uint64_t> Apply(const uint64_t* keys, size_t n, const float* grads,
                                         uint64_t* created);

  // Replaces the saved copy with a copy of the live overlay (rows, optimizer
  // state, push count), named `tag`. Cannot fail; an empty overlay is saved
  // like any other.
  void SaveOverlay(const std::string& tag);

  // The live overlay becomes a copy of the saved one (which is kept, so a
  // second restore returns to it again). FailedPrecondition when nothing was
  // saved, or when `tag` is not empty and differs from the saved copy's
  // (nothing changed in either case).
  [[nodiscard]] Status RestoreOverlay(const std::string& tag);

  bool has_saved_overlay() const { return saved_ != nullptr; }
  const std::string& saved_tag() const { return saved_tag_; }
  // Bytes of rows and optimizer state the saved copy holds (0 without one).
  uint64_t saved_bytes() const { return saved_ == nullptr ? 0 : saved_->bytes(); }

  // Writes this shard of the trained snapshot into `out_dir` (see
  // embedding/trained_snapshot.h), reading the snapshot's rows from its
  // RocksDB. Errors: those of ScanShard for the source, WriteTrainedShard.
  [[nodiscard]] Status WriteSnapshot(const std::string& out_dir) const;

  const SparseRowOptimizer& optimizer() const { return optimizer_; }
  uint64_t pushes() const { return pushes_; }

 private:
  Status ReadBase(const uint64_t* keys, size_t n, float* out, std::vector<bool>* present) const;
  StatusOr<uint64_t> ReadRowsWithInit(const uint64_t* keys, size_t n, float* out);

  const embedding::EmbeddingShard* base_;
  std::string model_dir_;
  proto::ModelManifest manifest_;
  SparseRowOptimizer optimizer_;
  uint64_t pushes_ = 0;
  // The saved copy (null: none) and what it was saved with. Its BaseReader
  // calls back into this shard, as the live one's does.
  std::unique_ptr<SparseRowOptimizer> saved_;
  uint64_t saved_pushes_ = 0;
  std::string saved_tag_;
  std::string encoded_;  // scratch for quantised snapshot rows
};

}  // namespace iak::ps

#endif  // IAK_PS_TRAINABLE_SHARD_H_
