// KeyCounts: how often each key occurs in a unit's training samples, and the
// field it first appeared in; what new-key rows (worker/new_key_rows.h) and
// key biases (worker/key_biases.h) choose their keys by. Gathered chunk by
// chunk, so a streamed job's unit is counted without holding its samples.
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_KEY_COUNTS_H_
#define IAK_WORKER_KEY_COUNTS_H_

#include <cstdint>
#include <map>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/shard_reader.h"
#include "worker/training_setup.h"

namespace iak::worker {

class KeyCounts {
 public:
  struct Use {
    int64_t count = 0;  // occurrences
    int field = 0;      // the field it first appeared in
  };

  // Counts every key of `fields` (empty: every field) in samples `ids` of
  // `data`.
  void Add(const data::Dataset& data, const std::vector<uint32_t>& ids,
           const std::vector<int>& fields = {});
  // Ascending keys, so every rank lists them alike.
  const std::map<uint64_t, Use>& uses() const { return uses_; }

 private:
  std::map<uint64_t, Use> uses_;
};

// Counts the keys of `fields` (empty: every field) in every training sample
// of `unit`: its train_ids of the resident `data`, or, for a streamed job
// (`stream` not null), its shard ranges read a chunk at a time. Errors: the
// reader's (naming the shard).
[[nodiscard]] Status CountUnitKeys(const data::Dataset& data, data::ShardSampleReader* stream,
                                   const PlannedAdapter& unit, const std::vector<int>& fields,
                                   KeyCounts* counts);

}  // namespace iak::worker

#endif  // IAK_WORKER_KEY_COUNTS_H_
