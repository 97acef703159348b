// What a fine-tuning worker sets up before its first step, shared by the
// static (barrier, MPI) and the elastic (sync, Gloo) training loops: the job's
// data, the frozen base model, the PS client options, the adapters and their
// optimizers, the frozen-prefix cache; and one step's two halves (the local
// gradient, then the averaged Adam step).
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
#include "proto/iak.pb.h"
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
[[nodiscard]] StatusOr<TrainingInputs> LoadTrainingInputs(const proto::JobSpec& spec);

// PS client options for the servers a barrier or sync reply listed;
// FailedPrecondition when their shard count differs from the model's.
[[nodiscard]] StatusOr<ps::PsClientOptions> PsOptionsFor(
    const proto::JobSpec& spec, const TrainingInputs& inputs,
    const google::protobuf::RepeatedPtrField<proto::ServerAddress>& servers, int rank,
    const std::string& name);

model::IakConfig IakConfigFor(const proto::IakSpec& spec, int h_dim);

// One adapter (initialised from the seed, the same on every rank) and one
// Adam per fine-tuned domain.
void InitAdapters(const proto::JobSpec& spec, const TrainingInputs& inputs,
                  std::vector<model::IakModule>* adapters, std::vector<std::string>* names,
                  std::vector<model::Adam>* optimizers);

// A static job's trained adapters under its domain plan (JobSpec.domain_plan,
// worker/domain_plan.h). Every rank computes the same plan from the same
// global counts (the domains' whole training splits, not a rank's shard).
struct PlannedAdapter {
  std::string name;          // the domain's name, or "shared:<d1>+<d2>+..."
  std::vector<int> domains;  // indices into job.finetune_domains
  int batch_size = 0;        // per worker per step
  double lr_scale = 1;       // multiplies each phase's learning rate
  data::SampleIds train_ids;  // global: its domains' training samples, in domain order
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

// One adapter and one Adam per planned adapter, initialised from the seed
// and the adapter's first domain (so a job without a plan starts exactly as
// InitAdapters does).
void InitPlannedAdapters(const proto::JobSpec& spec, const TrainingInputs& inputs,
                         const JobDomainPlan& plan, std::vector<model::IakModule>* adapters,
                         std::vector<std::string>* names, std::vector<model::Adam>* optimizers);

// The frozen-prefix cache the spec asks for, or null when it is off.
// `instance` makes the spill file name unique per worker.
[[nodiscard]] StatusOr<std::unique_ptr<FrozenPrefixCache>> MakeFrozenPrefixCache(
    const proto::JobSpec& spec, int h_dim, size_t num_samples, int instance);

// One batch's local half of a step: the frozen bottom (or the cached h, which
// it fills on a miss), then the adapter's gradients. `h` is scratch.
[[nodiscard]] StatusOr<model::StepStats> ComputeAdapterGrads(
    const model::BaseModel& base, model::ParallelFineTuneStep* step, FrozenPrefixCache* cache,
    const data::Dataset& dataset, const PreparedBatch& batch, model::IakPhase phase, float beta,
    model::IakModule* adapter, std::vector<float>* h);

// The collective half: averages the gradients over the group and steps
// Adam (the decoder only in the matching phase) at the phase's learning
// rate times `lr_scale` (the domain plan's).
[[nodiscard]] Status AverageAndStep(collective::Communicator* communicator,
                                    const proto::PhaseCommand& command, Deadline deadline,
                                    model::IakModule* adapter, model::Adam* adam,
                                    double lr_scale = 1.0);

const char* PhaseName(proto::Phase phase);

}  // namespace iak::worker

#endif  // IAK_WORKER_TRAINING_SETUP_H_
