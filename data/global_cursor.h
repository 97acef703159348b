// GlobalCursor: one domain's position in the job's global visiting order, for
// elastic jobs whose member count changes while they run (docs/elastic.md,
// "Data re-split").
//
// The order of data epoch e is EpochOrder(ids, seed, e) - the same on every
// machine. At a step with N members and per-member batch b, member r takes
// the ids [position + r*b, position + (r+1)*b) of that order (clipped at its
// end, so late members may get fewer or none) and the cursor then advances
// by N*b; reaching the end starts the next data epoch at position 0. Because
// the cursor moves only at step boundaries and every member agrees on it,
// any sequence of membership changes tiles each data epoch's order exactly:
// no id skipped, none visited twice.
//
// Thread-safety: not thread-safe; one per domain per worker thread.
#ifndef IAK_DATA_GLOBAL_CURSOR_H_
#define IAK_DATA_GLOBAL_CURSOR_H_

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "data/batcher.h"
#include "data/dataset.h"

namespace iak::data {

class GlobalCursor {
 public:
  // Starts at data epoch 0, position 0.
  GlobalCursor(SampleIds ids, uint64_t seed);

  // Moves to `cursor`. InvalidArgument when the epoch is negative or the
  // position past the end of the ids (another data set or split).
  [[nodiscard]] Status Seek(const BatchCursor& cursor);

  // The ids member `rank` of `size` takes at the current position with
  // per-member batch `batch` (rank < size, size >= 1, batch >= 1).
  void Slice(int rank, int size, size_t batch, SampleIds* out);

  // Moves past the step's N*b ids (clipped; next epoch after the end).
  void Advance(int size, size_t batch);

  const BatchCursor& cursor() const { return cursor_; }
  size_t num_ids() const { return ids_.size(); }

 private:
  void LoadOrder();

  SampleIds ids_;
  uint64_t seed_;
  BatchCursor cursor_;
  SampleIds order_;          // ids_ in the order of order_epoch_
  int64_t order_epoch_ = -1;
};

}  // namespace iak::data

#endif  // IAK_DATA_GLOBAL_CURSOR_H_
