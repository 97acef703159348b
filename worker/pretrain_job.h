// Pre-training as a job: train the base model on the early periods of the
// job's data and write the model directory the cluster serves (the embedding
// snapshot in shards, dense weights, manifest). It runs through the one
// Trainer (worker/trainer.h) as method "full" from a seeded random start
// (worker/pretrain_spec.h, docs/pretraining.md):
//   RunPretrainJob      in this process (LocalMembership, a local overlay of
//                       rows): `iak pretrain`, `iak demo`, `iak compare`;
//   RunClusterPretrain  as a cluster job (StaticMembership, trainable servers
//                       that create rows on first push): `iak pretrain
//                       --job=SPEC --cluster`, the in-process cluster.
// With one worker both train the same model bit for bit.
//
// Tasks: by default the base gets the ESMM form (two towers: pCTR and pCVR,
// scored as pCTR and pCTCVR = pCTR * pCVR; manifest num_tasks 2) whenever
// the data has conversion labels (a schema with a COLUMN_CONVERSION column,
// binary shards with has_conversion, `iak data synth` output), and one click
// tower otherwise (MovieLens, libsvm/libffm). PretrainJobOptions.num_tasks
// (JobSpec.pretrain.num_tasks) forces either.
//
// Thread-safety: the functions are reentrant; two runs must not share a
// model_dir (or, on a cluster, an output_dir).
#ifndef IAK_WORKER_PRETRAIN_JOB_H_
#define IAK_WORKER_PRETRAIN_JOB_H_

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "model/base_model.h"
#include "model/embedding_table.h"
#include "proto/job_spec.pb.h"
#include "worker/pretrain_spec.h"

namespace iak::worker {

struct PretrainJobOptions {
  proto::DataSpec data;        // which data and which periods are "early"
  std::string model_dir;       // written; must not hold a model unless overwrite
  int num_shards = 2;
  bool overwrite = false;
  // 0 = auto (2 when the data has conversion labels, else 1); 1 = CTR only
  // (conversion labels, if any, are not trained on); 2 = ESMM, which needs
  // conversion labels.
  int num_tasks = 0;
  PretrainOptions train;
};

struct PretrainJobResult {
  std::string snapshot_id;
  int64_t samples = 0;
  size_t rows = 0;
  std::vector<float> epoch_losses;  // one process: mean training loss of each epoch
  int num_tasks = 1;             // what the base got (the manifest's num_tasks)
  bool has_conversion = false;   // whether the data had conversion labels
};

// The job spec of `options`: data, model_dir, num_servers, seed and the
// pretrain block.
proto::JobSpec PretrainJobSpec(const PretrainJobOptions& options);

// Pre-trains in this process. Errors: LoadJobData's; InvalidArgument for
// num_tasks other than 0, 1, 2, for num_tasks 2 on data without conversion
// labels (naming the data and what to change), for pre-training periods
// without samples and unusable options; WriteModelDirectory's.
[[nodiscard]] StatusOr<PretrainJobResult> RunPretrainJob(const PretrainJobOptions& options);

// A base pre-trained in this process on samples `ids` of `data` (tests, the
// method comparison on synthetic data), through the same Trainer.
struct PretrainedBase {
  model::BaseModel model;
  model::EmbeddingTable table;
  std::vector<float> epoch_losses;
};
[[nodiscard]] StatusOr<PretrainedBase> PretrainOnSamples(const data::Dataset& data,
                                                         const data::SampleIds& ids,
                                                         const PretrainOptions& options,
                                                         int num_tasks);

// Pre-trains `spec` (pretrain.enabled, model_dir, num_servers, num_workers,
// output_dir) as a cluster job: writes the seeded initial model (an empty
// snapshot, random dense weights) to InitialModelDir(spec), has `run_job`
// run the Trainer's spec (PretrainTrainerSpec) on a cluster whose trainable
// servers write their trained shards into spec.model_dir, then completes it
// with rank 0's dense weights. `overwrite` replaces a model in model_dir.
using ClusterJobRunner = std::function<Status(const proto::JobSpec& trainer_spec)>;
[[nodiscard]] StatusOr<PretrainJobResult> RunClusterPretrain(const proto::JobSpec& spec,
                                                             const ClusterJobRunner& run_job,
                                                             bool overwrite);
// Where a cluster pre-training job keeps its initial model: <model_dir>.init.
std::string InitialModelDir(const proto::JobSpec& spec);

// The task count pre-training uses for `requested` (0 = auto) on data that
// has (or lacks) conversion labels; `source` names the data in the error.
// InvalidArgument as RunPretrainJob.
[[nodiscard]] StatusOr<int> ResolveNumTasks(int requested, bool has_conversion,
                                            const std::string& source);

}  // namespace iak::worker

#endif  // IAK_WORKER_PRETRAIN_JOB_H_
