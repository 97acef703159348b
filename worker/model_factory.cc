#include "worker/model_factory.h"

#include <algorithm>
#include <string>

#include <glog/logging.h>

#include "common/build_config.h"
#include "worker/adapter_model.h"
#include "worker/dense_models.h"
#if IAK_HAVE_CUDA
#include "cuda/cuda_adapter_engine.h"
#endif

namespace iak::worker {

const std::vector<std::string>& MethodNames() {
  static const std::vector<std::string> names{"frozen", "full", "dense", "lora", "plain", "iak"};
  return names;
}

Status CheckMethod(const std::string& method) {
  const std::vector<std::string>& names = MethodNames();
  if (std::find(names.begin(), names.end(), method) != names.end()) return Status::Ok();
  return InvalidArgumentError("unknown method '" + method +
                              "'; choose from frozen, full, dense, lora, plain, iak");
}

bool IsAdapterMethod(const std::string& method) {
  return method == "iak" || method == "plain" || method.empty();
}

namespace {

// The unit whose training samples `field` (iak.new_key_rows or
// iak.key_biases) reads; FailedPrecondition for an adapter on the tower,
// which trains neither.
StatusOr<const PlannedAdapter*> UnitForKeyTraining(const ModelEnvironment& env, int unit,
                                                   AdapterInsertion insertion,
                                                   const std::string& field) {
  if (insertion == AdapterInsertion::kTower) {
    return FailedPreconditionError(field + " trains with an adapter on h or x; iak.insertion is "
                                   "\"tower\" (use \"h\" or \"x\", or turn " + field + " off)");
  }
  if (env.plan == nullptr || unit < 0 ||
      static_cast<size_t>(unit) >= env.plan->adapters.size()) {
    return InternalError(field + ": no training samples for unit " + std::to_string(unit));
  }
  return &env.plan->adapters[static_cast<size_t>(unit)];
}

// An adapter that also trains rows for the keys of unit `unit`'s training
// samples that the frozen snapshot lacks (worker/new_key_rows.h).
StatusOr<std::unique_ptr<DomainModel>> MakeAdapterWithNewKeyRows(
    const ModelEnvironment& env, int unit, const AdapterContext& context,
    const model::IakConfig& config, AdapterInsertion insertion, uint64_t seed) {
  IAK_ASSIGN_OR_RETURN(const PlannedAdapter* unit_plan,
                       UnitForKeyTraining(env, unit, insertion, "iak.new_key_rows"));
  const PlannedAdapter& planned = *unit_plan;
  IAK_ASSIGN_OR_RETURN(NewKeyRowsOptions options,
                       NewKeyRowsOptionsFor(env.spec->iak().new_key_rows()));
  const int dim = context.base->config().embedding_dim;
  KeyCounts counts;
  IAK_RETURN_IF_ERROR(CountUnitKeys(*context.data, env.inputs->job.stream.get(), planned, {},
                                    &counts));
  IAK_ASSIGN_OR_RETURN(NewKeyRows rows, NewKeyRows::FromCounts(counts, context.data->num_fields(),
                                                               context.rows, dim, options));
  LOG(INFO) << "new-key rows: unit " << planned.name << ": " << rows.num_rows()
            << " keys of its training data are absent from the snapshot and get rows ("
            << rows.num_values() << " values)";
  return std::unique_ptr<DomainModel>(std::make_unique<AdapterModel>(
      context, config, insertion, seed, std::move(rows), options));
}

// Gives `adapter` a bias for every key of iak.key_biases.fields in unit
// `unit`'s training samples (worker/key_biases.h).
Status AddKeyBiases(const ModelEnvironment& env, int unit, const data::Dataset& data,
                    AdapterInsertion insertion, AdapterModel* adapter) {
  IAK_ASSIGN_OR_RETURN(const PlannedAdapter* unit_plan,
                       UnitForKeyTraining(env, unit, insertion, "iak.key_biases"));
  const PlannedAdapter& planned = *unit_plan;
  IAK_ASSIGN_OR_RETURN(KeyBiasesOptions options,
                       KeyBiasesOptionsFor(env.spec->iak().key_biases(), data));
  KeyCounts counts;
  IAK_RETURN_IF_ERROR(
      CountUnitKeys(data, env.inputs->job.stream.get(), planned, options.fields, &counts));
  KeyBiases biases = KeyBiases::FromCounts(counts, options.min_count);
  LOG(INFO) << "key biases: unit " << planned.name << ": " << biases.num_values()
            << " keys of its training data get a bias";
  adapter->AddKeyBiases(std::move(biases), options);
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<DomainModel>> MakeDomainModel(const ModelEnvironment& env, int unit,
                                                       int domain) {
  const proto::JobSpec& spec = *env.spec;
  const model::BaseModel& base = *env.inputs->base;
  const data::Dataset& data = env.inputs->job.dataset;
  const uint64_t seed = spec.seed() + 1000003ULL * static_cast<uint64_t>(domain);
  const std::string& method = spec.method();
  IAK_RETURN_IF_ERROR(CheckMethod(method.empty() ? "iak" : method));
  if (IsAdapterMethod(method)) {
    IAK_ASSIGN_OR_RETURN(AdapterInsertion insertion, ParseAdapterInsertion(spec.iak().insertion()));
    model::IakConfig config = IakConfigFor(spec.iak(), base.config().h_dim());
    if (insertion == AdapterInsertion::kX) {
      config.input_dim = base.config().input_dim();
      IAK_ASSIGN_OR_RETURN(config.columns,
                           AdapterColumnsFor(spec.iak(), data, base.config().embedding_dim));
    }
    if (insertion == AdapterInsertion::kTower) {
      if (!model::TowerAdapterStep::Supports(base.config())) {
        return FailedPreconditionError(
            "iak.insertion \"tower\" needs a base model whose towers have a hidden layer "
            "(tower_hidden is empty); choose \"h\" or \"x\"");
      }
      config.input_dim = base.config().tower_hidden.front();
    }
    // A spec that skipped job::Validate must not reach IakModule's CHECKs.
    IAK_RETURN_IF_ERROR(model::ValidateIakConfig(config).WithContext("job " + spec.name()));
    AdapterContext context;
    context.data = &data;
    context.base = &base;
    context.rows = env.rows->frozen();
    context.engine = env.engine;
    context.cache = env.cache;
    std::unique_ptr<DomainModel> adapter;
    if (spec.iak().new_key_rows().enabled()) {
      IAK_ASSIGN_OR_RETURN(adapter,
                           MakeAdapterWithNewKeyRows(env, unit, context, config, insertion, seed));
    } else {
      adapter = std::make_unique<AdapterModel>(context, config, insertion, seed);
    }
    if (spec.iak().key_biases().enabled()) {
      IAK_RETURN_IF_ERROR(
          AddKeyBiases(env, unit, data, insertion, static_cast<AdapterModel*>(adapter.get())));
    }
    return adapter;
  }
  DenseContext context;
  context.data = &data;
  context.base = &base;
  context.rows = env.rows->frozen();
  if (method == "frozen") return std::unique_ptr<DomainModel>(std::make_unique<FrozenModel>(context));
  if (method == "dense") return std::unique_ptr<DomainModel>(std::make_unique<DenseModel>(context));
  if (method == "lora") {
    model::LoraConfig lora;
    if (spec.lora().rank() > 0) lora.rank = spec.lora().rank();
    lora.alpha = spec.lora().alpha() > 0 ? spec.lora().alpha() : static_cast<float>(lora.rank);
    IAK_RETURN_IF_ERROR(model::ValidateLoraConfig(lora));
    return std::unique_ptr<DomainModel>(std::make_unique<LoraModel>(context, lora, seed));
  }
  IAK_ASSIGN_OR_RETURN(TrainableRows * rows, env.rows->trainable(unit));
  KeyDropout dropout;
  if (spec.pretrain().enabled()) {
    IAK_ASSIGN_OR_RETURN(dropout, KeyDropout::For(spec.pretrain(), data,
                                                  base.config().embedding_dim, spec.seed()));
  }
  return std::unique_ptr<DomainModel>(std::make_unique<FullModel>(context, rows, std::move(dropout)));
}

Status CheckFrozenPrecision(const proto::JobSpec& spec) {
  if (spec.frozen_precision() != "bf16" || !IsAdapterMethod(spec.method())) return Status::Ok();
  // The bf16 bottom is the forward below an adapter on h on a CPU worker;
  // anywhere else it would be ignored, so say so instead of training fp32.
  IAK_ASSIGN_OR_RETURN(AdapterInsertion insertion, ParseAdapterInsertion(spec.iak().insertion()));
  if (insertion != AdapterInsertion::kH) {
    return FailedPreconditionError(
        "frozen_precision \"bf16\" runs the frozen bottom below adapters on h; adapters on " +
        std::string(AdapterInsertionName(insertion)) +
        " (iak.insertion) train through it in fp32: set iak.insertion to \"h\" (iak demo: "
        "--demo_insertion=h) or frozen_precision to \"fp32\"");
  }
  if (spec.iak().new_key_rows().enabled() || spec.iak().key_biases().enabled()) {
    return FailedPreconditionError(
        "frozen_precision \"bf16\" runs the frozen bottom below adapters on h; with "
        "iak.new_key_rows or iak.key_biases the step runs through the whole model in fp32: "
        "turn them off (iak demo: --demo_new_key_rows=false --demo_key_biases=false) or set "
        "frozen_precision to \"fp32\"");
  }
  if (spec.launcher().gpus_per_worker() > 0) {
    return FailedPreconditionError(
        "frozen_precision \"bf16\" is an option of CPU workers (AVX-512 BF16 / AMX through "
        "oneDNN); GPU workers (launcher.gpus_per_worker > 0) run fp32: set frozen_precision "
        "to \"fp32\"");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<model::AdapterStepEngine>> MakeAdapterStepEngine(
    const proto::JobSpec& spec, const model::BaseModel& base, int threads, int max_batch) {
  IAK_RETURN_IF_ERROR(CheckFrozenPrecision(spec));
  if (spec.launcher().gpus_per_worker() <= 0) {
    std::unique_ptr<model::Bf16Bottom> bf16;
    if (spec.frozen_precision() == "bf16") {
      IAK_ASSIGN_OR_RETURN(bf16, model::Bf16Bottom::Create(base, std::max(1, threads)));
    }
    return std::unique_ptr<model::AdapterStepEngine>(
        std::make_unique<model::CpuAdapterStepEngine>(std::max(1, threads), std::move(bf16)));
  }
#if IAK_HAVE_CUDA
  // The launcher hands a worker its GPUs through CUDA_VISIBLE_DEVICES: device 0.
  IAK_ASSIGN_OR_RETURN(AdapterInsertion insertion, ParseAdapterInsertion(spec.iak().insertion()));
  if (insertion != AdapterInsertion::kH) {
    return FailedPreconditionError("GPU workers run adapters on h only; iak.insertion is \"" +
                                   spec.iak().insertion() +
                                   "\": set iak.insertion to \"h\" or launcher.gpus_per_worker "
                                   "to 0 (CPU workers train every insertion)");
  }
  return cuda::CreateCudaAdapterStepEngine(
      base, IakConfigFor(spec.iak(), base.config().h_dim()), /*device=*/0, max_batch);
#else
  (void)base;
  (void)max_batch;
  return FailedPreconditionError(
      "launcher.gpus_per_worker > 0 asks for GPU workers, but this build has no CUDA; build "
      "where the CUDA toolkit is installed, or set gpus_per_worker to 0");
#endif
}

}  // namespace iak::worker
