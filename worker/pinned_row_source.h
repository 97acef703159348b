// PinnedRowSource: the frozen rows of a dataset's keys, each fetched once
// from a source that fetches (the parameter servers) and then kept in this
// process, so that a worker pulls every key of its data once per job rather
// than once per batch that holds it. The rows are frozen, so a row kept is
// the row the servers would send again: the numbers are those of pulling
// each batch, bit for bit. Over it, ResolvedRows pools straight from the kept
// rows, as from a table in this process (worker/resolved_rows.h).
//
// Memory: for the dataset's D distinct keys, D rows of dim floats, an index
// of 32 bytes per key (FrozenKeyIndex) and a byte per key, allocated and
// zeroed up front (BytesFor; huge pages where the system has them). Finding
// the distinct keys takes a sorted copy of every key occurrence (8 bytes
// each, freed before the rows are made). Make refuses a dataset whose
// occurrences or distinct keys would take more than the budget, and the
// caller then pulls per batch. A row is fetched with the first batch that
// needs it.
//
// The missing-key guard (PullMonitor) counts every key occurrence read: the
// source's pulls count the keys they fetch, and `monitor` (when given) the
// reads of kept rows past those, a zero row as a missing key (the servers
// answer an absent key with one; a row of zeros scores alike).
//
// Thread-safety: none; one thread at a time (the pipeline's).
#ifndef IAK_WORKER_PINNED_ROW_SOURCE_H_
#define IAK_WORKER_PINNED_ROW_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "embedding/frozen_key_index.h"
#include "embedding/huge_page_buffer.h"
#include "worker/row_source.h"

namespace iak::worker {

class PinnedRowSource : public RowSource {
 public:
  // What D distinct keys of `dim` floats take here.
  static uint64_t BytesFor(uint64_t distinct_keys, int dim);

  // Null when the key occurrences of data.keys (8 bytes each) or its
  // distinct keys (BytesFor) would take more than `budget_bytes`, or there
  // are none. `source` (not owned) fetches the rows and must outlive this;
  // so must `data` where ResolvedRows pools it (its keys are copied into
  // the index).
  static std::unique_ptr<PinnedRowSource> Make(const data::Dataset& data, RowSource* source,
                                               int dim, uint64_t budget_bytes,
                                               PullMonitor* monitor = nullptr);

  // Rows of keys of the dataset from those kept (fetching the ones not kept
  // yet); other keys straight from the source.
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override;

  bool resolves_rows_of(const data::Dataset* data) const override { return data == data_; }
  // Pointers to the kept rows (never null: an absent key's row is the zero
  // row the servers answer with), fetching the ones not kept yet in one
  // Fetch of the source. FailedPrecondition for a key the dataset lacks;
  // the source's error when the fetch fails (nothing is kept from it); the
  // monitor's when the reads take the missing rate past the job's limit.
  Status ResolveRows(const uint64_t* keys, size_t n, const float** rows_out) override;

  uint64_t num_keys() const { return index_.size(); }
  uint64_t num_fetched() const { return num_fetched_; }

 private:
  // Per slot: not fetched, being fetched (in this ResolveRows), kept, or
  // kept and a zero row.
  enum SlotState : uint8_t { kNotFetched, kFetching, kKept, kKeptZero };

  PinnedRowSource(const data::Dataset* data, RowSource* source, int dim, PullMonitor* monitor)
      : data_(data), source_(source), dim_(dim), monitor_(monitor) {}

  // ResolveRows for keys whose slots are known (all of the data set).
  [[nodiscard]] Status ResolveSlots(const uint64_t* keys, const uint32_t* slots, size_t n,
                                    const float** rows_out);

  float* row(uint32_t slot) {
    return reinterpret_cast<float*>(rows_.data()) + static_cast<size_t>(slot) * dim_;
  }

  const data::Dataset* data_;  // the data whose keys are kept
  RowSource* source_;
  int dim_;
  PullMonitor* monitor_;             // may be null
  embedding::FrozenKeyIndex index_;  // distinct key -> slot
  embedding::HugePageBuffer rows_;   // a row of dim floats per slot
  std::vector<uint8_t> state_;       // per slot, a SlotState
  uint64_t num_fetched_ = 0;
  std::vector<uint32_t> slots_;        // ResolveRows, Fetch: each key's slot
  std::vector<uint64_t> fetch_keys_;   // ResolveRows: keys not kept yet
  std::vector<uint32_t> fetch_slots_;  // ... and their slots
  std::vector<float> fetch_rows_;      // ... and their rows, as fetched
  std::vector<uint64_t> kept_keys_, other_keys_;  // Fetch: keys kept or not
  std::vector<uint32_t> kept_slots_;
  std::vector<size_t> kept_at_, other_at_;        // ... and their places
  std::vector<const float*> kept_rows_;
  std::vector<float> other_rows_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_PINNED_ROW_SOURCE_H_
