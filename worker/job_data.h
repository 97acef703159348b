// JobData: the samples one job trains and evaluates on, read and split the
// same way by every node (pre-training, workers, evaluation), so a sample id
// means the same sample everywhere.
//
// The source is, in this order of precedence (proto::DataSpec):
//   shard_manifest  binary shards written by `iak data convert`;
//   schema_file     text files (input_files) read with a schema;
//   movielens_dir   the MovieLens layout (the default).
// By default every node reads the whole set into memory. A training worker
// of a job with data.stream over a domain-ordered shard set (written by
// `iak data convert`, docs/data.md) reads no training sample up front: the
// split is cut from the manifest's per-domain ranges, the training samples
// are read block by block as batches need them (`stream`), and only the
// fine-tuned domains' validation samples are held in `dataset`.
#ifndef IAK_WORKER_JOB_DATA_H_
#define IAK_WORKER_JOB_DATA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/movielens_reader.h"
#include "data/shard_reader.h"
#include "data/split.h"
#include "data/text_reader.h"
#include "proto/job_spec.pb.h"

namespace iak::worker {

struct JobData {
  // Streamed: only the validation samples of the fine-tuned domains, and
  // splits[d].validation indexes them; train and test are empty.
  data::Dataset dataset;
  std::vector<data::DomainSplit> splits;  // one per domain (period)
  // Streamed jobs only: the reader of the shard set, and per domain its
  // parts as ranges of the set's sample ids (what the batches read).
  std::shared_ptr<data::ShardSampleReader> stream;
  std::vector<data::DomainRanges> ranges;
  // The early periods, or the "pretrain" domain of data.pretrain_random_share.
  std::vector<int> pretrain_domains;
  std::vector<int> finetune_domains;      // the other domains, one adapter each
  data::ReadReport report;                // MovieLens reads
  data::TextReadReport text_report;       // schema-driven reads
  std::string source;                     // what was read, for logs

  // The bound of the sample ids batches use (the set's size when streamed).
  uint64_t num_sample_ids() const { return stream ? stream->num_samples() : dataset.size(); }
};

// `stream`: honour spec.stream (a training worker); false reads everything
// (evaluation, prediction, pre-training: they need the test parts too).
// Streamed: FailedPrecondition for a set that is not domain-ordered or holds
// 2^32 samples or more.
[[nodiscard]] StatusOr<JobData> LoadJobData(const proto::DataSpec& spec, bool stream = false);

}  // namespace iak::worker

#endif  // IAK_WORKER_JOB_DATA_H_
