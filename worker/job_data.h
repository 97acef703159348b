// JobData: the samples one job trains and evaluates on, read and split the
// same way by every node (pre-training, workers, evaluation), so a sample id
// means the same sample everywhere.
#ifndef IAK_WORKER_JOB_DATA_H_
#define IAK_WORKER_JOB_DATA_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/movielens_reader.h"
#include "data/split.h"
#include "proto/iak.pb.h"

namespace iak::worker {

struct JobData {
  data::Dataset dataset;
  std::vector<data::DomainSplit> splits;  // one per domain (period)
  std::vector<int> pretrain_domains;      // the early periods
  std::vector<int> finetune_domains;      // the later periods, one adapter each
  data::ReadReport report;
};

[[nodiscard]] StatusOr<JobData> LoadJobData(const proto::DataSpec& spec);

}  // namespace iak::worker

#endif  // IAK_WORKER_JOB_DATA_H_
