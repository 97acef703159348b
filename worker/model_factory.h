// The DomainModel a job's method trains for one training unit, and the step
// engine its adapters run on: the one place that maps JobSpec.method (and
// JobSpec.iak.insertion, lora, launcher.gpus_per_worker) to classes.
#ifndef IAK_WORKER_MODEL_FACTORY_H_
#define IAK_WORKER_MODEL_FACTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/adapter_step_engine.h"
#include "proto/job_spec.pb.h"
#include "worker/domain_model.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/row_access.h"
#include "worker/training_setup.h"

namespace iak::worker {

// The methods, in the order reports list them.
const std::vector<std::string>& MethodNames();
// InvalidArgument naming the valid methods unless `method` is one.
[[nodiscard]] Status CheckMethod(const std::string& method);
bool IsAdapterMethod(const std::string& method);  // iak, plain

// What the models of one trainer share (not owned).
struct ModelEnvironment {
  const proto::JobSpec* spec = nullptr;
  const TrainingInputs* inputs = nullptr;
  RowAccess* rows = nullptr;                   // connected
  model::AdapterStepEngine* engine = nullptr;  // adapters on h
  FrozenPrefixCache* cache = nullptr;          // may be null
  // The units' training samples (the keys of new-key rows and key biases
  // are counted in them); needed when JobSpec.iak.new_key_rows or
  // iak.key_biases is enabled.
  const JobDomainPlan* plan = nullptr;
};

// The model of unit `unit`, whose first domain is job domain `domain`
// (seeds derive from it, so a unit starts the same on every rank).
[[nodiscard]] StatusOr<std::unique_ptr<DomainModel>> MakeDomainModel(
    const ModelEnvironment& env, int unit, int domain);

// OK unless the spec asks for the bf16 frozen bottom (frozen_precision) of
// an adapter method where it cannot apply: adapters on x or the tower (they
// train through the bottom in fp32), or GPU workers. FailedPrecondition then,
// naming what to change. Other methods train in fp32 whatever it says.
[[nodiscard]] Status CheckFrozenPrecision(const proto::JobSpec& spec);

// The engine for the spec (CheckFrozenPrecision first): the GPU (CUDA) when
// launcher.gpus_per_worker > 0,
// else the CPU with `threads` threads. FailedPrecondition when a GPU is asked
// for and this build has no CUDA; the device's error when it cannot start.
[[nodiscard]] StatusOr<std::unique_ptr<model::AdapterStepEngine>> MakeAdapterStepEngine(
    const proto::JobSpec& spec, const model::BaseModel& base, int threads, int max_batch);

}  // namespace iak::worker

#endif  // IAK_WORKER_MODEL_FACTORY_H_
