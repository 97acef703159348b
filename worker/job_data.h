// JobData: the samples one job trains and evaluates on, read and split the
// same way by every node (pre-training, workers, evaluation), so a sample id
// means the same sample everywhere.
//
// The source is, in this order of precedence (proto::DataSpec):
//   shard_manifest  binary shards written by `iak data convert`;
//   schema_file     text files (input_files) read with a schema;
//   movielens_dir   the MovieLens layout (the default).
// Every node reads the whole set (all shards), because the time split per
// domain needs every sample; data::ReadShardSet can read one worker's shards
// alone for paths that shard by file.
#ifndef IAK_WORKER_JOB_DATA_H_
#define IAK_WORKER_JOB_DATA_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/movielens_reader.h"
#include "data/split.h"
#include "data/text_reader.h"
#include "proto/job_spec.pb.h"

namespace iak::worker {

struct JobData {
  data::Dataset dataset;
  std::vector<data::DomainSplit> splits;  // one per domain (period)
  // The early periods, or the "pretrain" domain of data.pretrain_random_share.
  std::vector<int> pretrain_domains;
  std::vector<int> finetune_domains;      // the other domains, one adapter each
  data::ReadReport report;                // MovieLens reads
  data::TextReadReport text_report;       // schema-driven reads
  std::string source;                     // what was read, for logs
};

[[nodiscard]] StatusOr<JobData> LoadJobData(const proto::DataSpec& spec);

}  // namespace iak::worker

#endif  // IAK_WORKER_JOB_DATA_H_
