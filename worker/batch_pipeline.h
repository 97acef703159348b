// BatchPipeline: the worker's data pipeline on its own thread. For each batch
// in turn it takes the sample ids, and either copies the frozen bottom's
// output h from the FrozenPrefixCache (every sample cached: no pull at all)
// or collects the unique keys, fetches their rows (the PS pull) and pools
// them into x (with a local frozen table: pools by rows resolved once,
// ResolvedRows); it also gathers the labels and draws the IAK's noise. It runs
// up to `depth` batches ahead of the trainer, so the next batch's pull
// overlaps this batch's compute.
//
// Determinism: batches come out in the order `next` produced them, and each
// batch's noise is drawn from a generator seeded by its index, so a run is a
// pure function of its seeds whatever the timing.
//
// Streamed jobs (options.stream): the ids are sample ids of a shard set;
// the pipeline reads each batch's samples from it (data/shard_reader.h)
// into the batch's own `samples`, so the pipeline's depth is the read-ahead
// and no sample is held longer than its batch and the reader's block cache.
//
// Thread-safety: Next()/Release() from one consumer thread. `next`, the
// RowSource, the stream and the dataset are used on the pipeline thread
// only (the dataset is only read, and may be shared).
#ifndef IAK_WORKER_BATCH_PIPELINE_H_
#define IAK_WORKER_BATCH_PIPELINE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/shard_reader.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/pulled_rows.h"
#include "worker/resolved_rows.h"
#include "worker/row_source.h"

namespace iak::worker {

struct PreparedBatch {
  int64_t index = 0;   // first_index, first_index + 1, ... in production order
  int tag = 0;         // what `next` said (the worker: the domain index)
  std::vector<uint32_t> ids;  // the job's sample ids (the cache's keys)
  data::Dataset samples;      // streamed: the batch's samples, ids[i] at i
  int size() const { return static_cast<int>(ids.size()); }
  bool from_cache = false;  // h is filled (x is not)
  std::vector<float> x;     // [size x input_dim] when !from_cache
  std::vector<float> h;     // [size x h_dim] when from_cache
  std::vector<float> click;
  std::vector<float> conversion;  // empty when the data has none
  std::vector<float> eps;         // [size x latent_dim]
};

struct BatchPipelineOptions {
  int input_dim = 0;   // num_fields * embedding dim
  int embedding_dim = 0;
  int h_dim = 0;       // width of the cached h
  int latent_dim = 0;  // noise per sample; 0 = draw none
  // Batch i's noise comes from a generator seeded by (noise_seed, index):
  // the same for a batch whatever came before it (a resumed or re-split run
  // draws the same noise for the same step).
  uint64_t noise_seed = 0;
  int64_t first_index = 0;  // the index of the first batch (the trainer: its global step)
  int depth = 2;       // batches prepared ahead (>= 1)
  // false: only ids, labels and noise (the consumer reads its own rows).
  bool pool = true;
  // Streamed jobs: where the batches' samples are read (then `data` is not);
  // must outlive the pipeline. Null: ids index `data`.
  data::ShardSampleReader* stream = nullptr;
};

class BatchPipeline {
 public:
  // Fills *ids with the next batch and *tag with its label; false = no more
  // batches. An empty batch is allowed (and passed through).
  using NextFn = std::function<bool(int* tag, std::vector<uint32_t>* ids)>;

  // Starts the thread. `data`, `source` and `cache` (may be null) must
  // outlive the pipeline. With `resolved` (may be null; must outlive it too,
  // over `data`, not streamed) batches pool straight from a local table
  // (ResolvedRows) and `source` is not used; the pipeline's thread uses it
  // until the pipeline is destroyed.
  BatchPipeline(const BatchPipelineOptions& options, const data::Dataset* data, RowSource* source,
                FrozenPrefixCache* cache, NextFn next, ResolvedRows* resolved = nullptr);
  ~BatchPipeline();  // stops the thread (after its current fetch)

  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // The next batch in order; blocks until it is ready. Returns null at the
  // end, or the error that stopped the pipeline (a failed fetch or cache
  // read, with the batch index in the message). The batch stays valid until
  // Release().
  [[nodiscard]] StatusOr<PreparedBatch*> Next();
  void Release(PreparedBatch* batch);

 private:
  void Loop();
  Status Prepare(PreparedBatch* batch);

  BatchPipelineOptions options_;
  const data::Dataset* data_;
  RowSource* source_;
  FrozenPrefixCache* cache_;
  NextFn next_;
  ResolvedRows* resolved_;
  PulledRows rows_;  // pipeline thread only
  std::vector<uint32_t> local_;  // streamed: 0, 1, ... (ids into a batch's samples)

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PreparedBatch>> storage_;
  std::vector<PreparedBatch*> free_;   // guarded by mu_
  std::deque<PreparedBatch*> ready_;   // guarded by mu_
  bool finished_ = false;              // guarded by mu_: no more batches
  Status error_;                       // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  std::thread thread_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_BATCH_PIPELINE_H_
