// What the Trainer (worker/trainer.h) sets up before its first step: the
// job's data and frozen base model, the PS client options, the adapter
// config, the domain plan (the training units) and the frozen-prefix cache.
#ifndef IAK_WORKER_TRAINING_SETUP_H_
#define IAK_WORKER_TRAINING_SETUP_H_

#include <memory>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "common/status.h"
#include "embedding/model_directory.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/iak_module.h"
#include "model/parallel_step.h"
#include "proto/job_spec.pb.h"
#include "proto/wire.pb.h"
#include "ps/ps_client.h"
#include "worker/batch_pipeline.h"
#include "worker/domain_plan.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/job_data.h"

namespace iak::worker {

// The job's data, model directory and frozen base model, checked against
// each other (field count).
struct TrainingInputs {
  JobData job;
  embedding::ModelDirectory model_dir;
  std::unique_ptr<model::BaseModel> base;
};
// The JobSpec form is a training worker's: it streams with data.stream
// (adapter methods only; FailedPrecondition otherwise). The DataSpec form
// streams only with `stream`.
[[nodiscard]] StatusOr<TrainingInputs> LoadTrainingInputs(const proto::JobSpec& spec);
[[nodiscard]] StatusOr<TrainingInputs> LoadTrainingInputs(const proto::DataSpec& data,
                                                          const std::string& model_dir,
                                                          bool stream = false);

// The same with the model directory's embedding table opened in this
// process (evaluation, the method comparison).
struct LocalInputs {
  TrainingInputs inputs;
  std::unique_ptr<embedding::LocalEmbeddingTable> table;
};
[[nodiscard]] StatusOr<LocalInputs> LoadLocalInputs(const proto::DataSpec& data,
                                                    const std::string& model_dir);

// PS client options for the servers a barrier or sync reply listed;
// FailedPrecondition when their shard count differs from the model's.
[[nodiscard]] StatusOr<ps::PsClientOptions> PsOptionsFor(
    const proto::JobSpec& spec, const TrainingInputs& inputs,
    const std::vector<proto::ServerAddress>& servers, int rank,
    const std::string& name);

model::IakConfig IakConfigFor(const proto::IakSpec& spec, int h_dim);
// The columns of x (fields' pooled embeddings, `embedding_dim` each, in the
// data's field order) that spec.fields names: IakConfig::columns of an
// adapter on x; empty when it names none. InvalidArgument on a name the
// data lacks or names twice.
[[nodiscard]] StatusOr<std::vector<int>> AdapterColumnsFor(const proto::IakSpec& spec,
                                                           const data::Dataset& data,
                                                           int embedding_dim);

// A static job's trained adapters under its domain plan (JobSpec.domain_plan,
// worker/domain_plan.h). Every rank computes the same plan from the same
// global counts (the domains' whole training splits, not a rank's shard).
struct PlannedAdapter {
  std::string name;          // the domain's name, or "shared:<d1>+<d2>+..."
  std::vector<int> domains;  // indices into job.finetune_domains
  int batch_size = 0;        // per worker per step
  double lr_scale = 1;       // multiplies each phase's learning rate
  data::SampleIds train_ids;  // global: its domains' training samples, in domain order
  data::IdRanges train_ranges;  // streamed jobs: the same as ranges (train_ids empty)
};
struct JobDomainPlan {
  bool enabled = false;  // false: one adapter per domain, batch_size, lr (the plan is trivial)
  DomainPlan plan;       // one entry per fine-tuned domain
  std::vector<PlannedAdapter> adapters;  // what the job trains, in step order
  // For each fine-tuned domain: its adapter's index in `adapters`, -1 = base model.
  std::vector<int> adapter_of_domain;
};
[[nodiscard]] StatusOr<JobDomainPlan> PlanJobDomains(const proto::JobSpec& spec,
                                                     const JobData& job);

// The frozen-prefix cache the spec asks for, or null when it is off.
// `instance` makes the spill file name unique per worker.
[[nodiscard]] StatusOr<std::unique_ptr<FrozenPrefixCache>> MakeFrozenPrefixCache(
    const proto::JobSpec& spec, int h_dim, size_t num_samples, int instance);

}  // namespace iak::worker

#endif  // IAK_WORKER_TRAINING_SETUP_H_
