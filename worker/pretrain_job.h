// Pre-training as a job step: train the base model on the early periods of the
// job's data and write the model directory the cluster serves (the frozen
// embedding snapshot in shards, dense weights, manifest).
//
// Tasks: by default the base gets the ESMM form (two towers: pCTR and pCVR,
// scored as pCTR and pCTCVR = pCTR * pCVR; manifest num_tasks 2) whenever
// the data has conversion labels (a schema with a COLUMN_CONVERSION column,
// binary shards with has_conversion, `iak data synth` output), and one click
// tower otherwise (MovieLens, libsvm/libffm). PretrainJobOptions.num_tasks
// forces either.
#ifndef IAK_WORKER_PRETRAIN_JOB_H_
#define IAK_WORKER_PRETRAIN_JOB_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "model/pretrainer.h"
#include "proto/job_spec.pb.h"

namespace iak::worker {

struct PretrainJobOptions {
  proto::DataSpec data;        // which data and which periods are "early"
  std::string model_dir;       // written; must not hold a model unless overwrite
  int num_shards = 2;
  bool overwrite = false;
  // 0 = auto (2 when the data has conversion labels, else 1); 1 = CTR only
  // (conversion labels, if any, are not trained on); 2 = ESMM, which needs
  // conversion labels. It decides train.num_tasks, which is ignored.
  int num_tasks = 0;
  model::PretrainOptions train;
};

struct PretrainJobResult {
  std::string snapshot_id;
  int64_t samples = 0;
  size_t rows = 0;
  std::vector<float> epoch_losses;
  int num_tasks = 1;             // what the base got (the manifest's num_tasks)
  bool has_conversion = false;   // whether the data had conversion labels
};

// Errors: LoadJobData's; InvalidArgument for num_tasks other than 0, 1, 2,
// for num_tasks 2 on data without conversion labels (naming the data and
// what to change), and for pre-training periods without samples; Pretrain's
// and WriteModelDirectory's.
[[nodiscard]] StatusOr<PretrainJobResult> RunPretrainJob(const PretrainJobOptions& options);

// The task count pre-training uses for `requested` (0 = auto) on data that
// has (or lacks) conversion labels; `source` names the data in the error.
// InvalidArgument as RunPretrainJob.
[[nodiscard]] StatusOr<int> ResolveNumTasks(int requested, bool has_conversion,
                                            const std::string& source);

}  // namespace iak::worker

#endif  // IAK_WORKER_PRETRAIN_JOB_H_
