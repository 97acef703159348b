// Deterministic, resumable mini-batches over a list of sample ids.
//
// Each epoch visits every id exactly once. With shuffling, the order of
// epoch e is a pure function of (seed, e, ids): the shuffle uses its own
// generator rather than std::shuffle, whose output differs between standard
// libraries, so two machines (and a resumed run) see identical batches.
// A BatchCursor (epoch, position) is all a checkpoint needs to resume.
//
// Thread-safety: a Batcher is not thread-safe; use one per training thread
// (typically over the ShardIds of that worker).
#ifndef IAK_DATA_BATCHER_H_
#define IAK_DATA_BATCHER_H_

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "data/dataset.h"

namespace iak::data {

struct BatcherOptions {
  size_t batch_size = 256;  // > 0; the last batch of an epoch may be shorter
  uint64_t seed = 0;        // same seed and ids => same batches
  bool shuffle = true;      // false: every epoch in input order (evaluation)
};

// Where the next batch starts: `position` ids of epoch `epoch` (in that
// epoch's order) have been handed out.
struct BatchCursor {
  int64_t epoch = 0;
  size_t position = 0;
};

// The visiting order of `ids` in `epoch`: a permutation of `ids` determined by
// (seed, epoch).
SampleIds EpochOrder(const SampleIds& ids, uint64_t seed, int64_t epoch);

class Batcher {
 public:
  // Starts at epoch 0, position 0. CHECKs options.batch_size > 0.
  Batcher(SampleIds ids, const BatcherOptions& options);

  // Fills `*batch` with the next at most batch_size ids of the current epoch
  // and returns true. When the epoch is exhausted, returns false, leaves
  // `*batch` empty and moves to the start of the next epoch, so
  // `while (batcher.Next(&batch)) {...}` runs one epoch.
  bool Next(SampleIds* batch);

  // Resumes at `cursor` (as saved from cursor()). InvalidArgumentError if the
  // epoch is negative or the position is past the end of the ids, e.g. a
  // checkpoint written for a different data set or shard.
  [[nodiscard]] Status Seek(const BatchCursor& cursor);

  const BatchCursor& cursor() const { return cursor_; }
  size_t num_ids() const { return ids_.size(); }
  // Batches per full epoch: ceil(num_ids / batch_size).
  size_t batches_per_epoch() const;

 private:
  void LoadEpochOrder();

  SampleIds ids_;
  BatcherOptions options_;
  BatchCursor cursor_;
  SampleIds order_;  // ids_ in the order of cursor_.epoch
};

}  // namespace iak::data

#endif  // IAK_DATA_BATCHER_H_
