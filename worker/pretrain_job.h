// Pre-training as a job step: train the base model on the early periods of the
// job's data and write the model directory the cluster serves (the frozen
// embedding snapshot in shards, dense weights, manifest).
#ifndef IAK_WORKER_PRETRAIN_JOB_H_
#define IAK_WORKER_PRETRAIN_JOB_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "model/pretrainer.h"
#include "proto/iak.pb.h"

namespace iak::worker {

struct PretrainJobOptions {
  proto::DataSpec data;        // which data and which periods are "early"
  std::string model_dir;       // written; must not hold a model unless overwrite
  int num_shards = 2;
  bool overwrite = false;
  model::PretrainOptions train;
};

struct PretrainJobResult {
  std::string snapshot_id;
  int64_t samples = 0;
  size_t rows = 0;
  std::vector<float> epoch_losses;
};

[[nodiscard]] StatusOr<PretrainJobResult> RunPretrainJob(const PretrainJobOptions& options);

}  // namespace iak::worker

#endif  // IAK_WORKER_PRETRAIN_JOB_H_
