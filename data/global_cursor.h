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
// Streamed data (ranges of a domain-ordered shard set, data/shard_reader.h):
// up to kExactShuffleIds ids the ranges are listed and the order is the same
// EpochOrder as for a list (so a streamed job visits the very samples of the
// in-memory one, in the same order). Past it no list is held: the positions
// are cut into blocks of kStreamBlockIds consecutive ids, the blocks are
// visited in an EpochOrder of their own and each block in an EpochOrder of
// its ids, so memory is a few kilobytes whatever the data's size and the
// reader decodes each stored block about once per epoch. Both orders are
// functions of (seed, epoch) only, so elastic re-splits and resumes stay
// exact.
//
// Thread-safety: not thread-safe; one per domain per worker thread.
#ifndef IAK_DATA_GLOBAL_CURSOR_H_
#define IAK_DATA_GLOBAL_CURSOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "data/split.h"

namespace iak::data {

class GlobalCursor {
 public:
  static constexpr size_t kExactShuffleIds = size_t{1} << 20;
  static constexpr size_t kStreamBlockIds = 8192;

  // Starts at data epoch 0, position 0. With `ranges` (then `ids` must be
  // empty) the ids are those of the ranges, in order; every id must be
  // below 2^32 (CHECKed).
  GlobalCursor(SampleIds ids, uint64_t seed, IdRanges ranges = {});

  // Moves to `cursor`. InvalidArgument when the epoch is negative or the
  // position past the end of the ids (another data set or split).
  [[nodiscard]] Status Seek(const BatchCursor& cursor);

  // The ids member `rank` of `size` takes at the current position with
  // per-member batch `batch` (rank < size, size >= 1, batch >= 1).
  void Slice(int rank, int size, size_t batch, SampleIds* out);

  // Moves past the step's N*b ids (clipped; next epoch after the end).
  void Advance(int size, size_t batch);

  const BatchCursor& cursor() const { return cursor_; }
  size_t num_ids() const { return num_ids_; }

 private:
  void LoadOrder();
  // Streamed order: the id at `position` of the current epoch.
  uint32_t StreamedId(size_t position);
  uint32_t IdAt(size_t index) const;  // index-th id of the ranges

  SampleIds ids_;
  IdRanges ranges_;                // streamed: the ids (ids_ empty)
  std::vector<uint64_t> starts_;   // streamed: index of each range's first id
  size_t num_ids_ = 0;
  SampleIds block_order_;          // streamed: the blocks of order_epoch_
  std::vector<size_t> block_start_;  // streamed: position of each visited block
  int64_t inner_block_ = -1;       // streamed: the block whose order is in inner_
  SampleIds inner_;
  uint64_t seed_;
  BatchCursor cursor_;
  SampleIds order_;          // ids_ in the order of order_epoch_
  int64_t order_epoch_ = -1;
};

}  // namespace iak::data

#endif  // IAK_DATA_GLOBAL_CURSOR_H_
