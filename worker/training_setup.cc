#include "worker/training_setup.h"

#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "data/field_names.h"
#include "worker/pretrain_spec.h"

namespace iak::worker {

StatusOr<TrainingInputs> LoadTrainingInputs(const proto::JobSpec& spec) {
  const std::string& method = spec.method();
  // Pre-training's "full" reads streamed batches' own samples (FullModel).
  const bool streams = method.empty() || method == "iak" || method == "plain" ||
                       (method == "full" && spec.pretrain().enabled());
  if (spec.data().stream() && !streams) {
    return FailedPreconditionError(
        "data.stream reads training samples batch by batch, which the adapter methods (iak, "
        "plain) support; method '" + method + "' reads the whole data set: drop data.stream");
  }
  IAK_ASSIGN_OR_RETURN(TrainingInputs inputs,
                       LoadTrainingInputs(spec.data(), spec.model_dir(), /*stream=*/true));
  if (spec.pretrain().enabled()) {
    if (method != "full") {
      return FailedPreconditionError(
          "job " + spec.name() + " has pretrain { enabled: true }: run it with `iak pretrain "
          "--job=SPEC [--cluster]`, which trains it as method \"full\" from a seeded start "
          "(docs/pretraining.md), not with `iak submit`");
    }
    // A pre-training job trains one unit over the pre-training periods.
    IAK_RETURN_IF_ERROR(ToPretrainingView(PretrainSampleIds(inputs.job), &inputs.job));
  }
  return inputs;
}

StatusOr<TrainingInputs> LoadTrainingInputs(const proto::DataSpec& data,
                                            const std::string& model_dir, bool stream) {
  TrainingInputs inputs;
  IAK_ASSIGN_OR_RETURN(inputs.job, LoadJobData(data, stream));
  IAK_ASSIGN_OR_RETURN(inputs.model_dir, embedding::LoadModelDirectory(model_dir));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base,
                       model::BaseModel::Deserialize(inputs.model_dir.dense_blob));
  inputs.base = std::make_unique<model::BaseModel>(std::move(base));
  if (inputs.base->config().num_fields != inputs.job.dataset.num_fields()) {
    return FailedPreconditionError(
        "the model in " + model_dir + " has " + std::to_string(inputs.base->config().num_fields) +
        " fields but the data has " + std::to_string(inputs.job.dataset.num_fields()) +
        "; pre-train a model for this data");
  }
  return inputs;
}

StatusOr<LocalInputs> LoadLocalInputs(const proto::DataSpec& data, const std::string& model_dir) {
  LocalInputs local;
  IAK_ASSIGN_OR_RETURN(local.inputs, LoadTrainingInputs(data, model_dir));
  IAK_ASSIGN_OR_RETURN(local.table, embedding::LocalEmbeddingTable::Open(local.inputs.model_dir));
  return local;
}

StatusOr<ps::PsClientOptions> PsOptionsFor(
    const proto::JobSpec& spec, const TrainingInputs& inputs,
    const std::vector<proto::ServerAddress>& servers, int rank,
    const std::string& name) {
  std::set<int> shards;
  for (const proto::ServerAddress& server : servers) shards.insert(server.shard());
  if (static_cast<int>(shards.size()) != inputs.model_dir.manifest.num_shards()) {
    return FailedPreconditionError(
        "the job serves " + std::to_string(shards.size()) + " shard(s) but " +
        spec.model_dir() + " has " + std::to_string(inputs.model_dir.manifest.num_shards()) +
        "; set num_servers to the shard count");
  }
  ps::PsClientOptions options;
  options.servers.assign(servers.begin(), servers.end());
  // Workers start their rotation over a shard's replicas at different ones.
  options.replica_offset = static_cast<uint64_t>(rank);
  options.cache_bytes = static_cast<uint64_t>(spec.row_cache_bytes());
  options.snapshot_id = inputs.model_dir.manifest.snapshot_id();
  options.dim = inputs.base->config().embedding_dim;
  options.pull_timeout = Duration(spec.timeouts().pull_timeout_ms());
  options.name = name;
  return options;
}

model::IakConfig IakConfigFor(const proto::IakSpec& spec, int h_dim) {
  model::IakConfig config;
  config.input_dim = h_dim;
  config.latent_dim = spec.latent_dim();
  config.encoder_hidden.assign(spec.encoder_hidden().begin(), spec.encoder_hidden().end());
  config.decoder_hidden.assign(spec.decoder_hidden().begin(), spec.decoder_hidden().end());
  // A single 0: no hidden layer (job_spec.proto).
  for (std::vector<int>* hidden : {&config.encoder_hidden, &config.decoder_hidden}) {
    if (*hidden == std::vector<int>{0}) hidden->clear();
  }
  config.plain_adapter = spec.plain_adapter();
  if (spec.has_initial_logvar()) config.initial_logvar = spec.initial_logvar();
  return config;
}

StatusOr<std::vector<int>> AdapterColumnsFor(const proto::IakSpec& spec,
                                             const data::Dataset& data, int embedding_dim) {
  IAK_ASSIGN_OR_RETURN(
      std::vector<int> fields,
      data::FieldIndicesByName(data.fields, {spec.fields().begin(), spec.fields().end()},
                               "iak.fields"));
  std::sort(fields.begin(), fields.end());  // x holds the fields in data order
  std::vector<int> columns;
  for (int f : fields) {
    for (int j = 0; j < embedding_dim; ++j) columns.push_back(f * embedding_dim + j);
  }
  return columns;
}

StatusOr<JobDomainPlan> PlanJobDomains(const proto::JobSpec& spec, const JobData& job) {
  const proto::DomainPlanSpec& ps = spec.domain_plan();
  JobDomainPlan out;
  out.enabled = ps.enabled();
  DomainPlanOptions options;
  options.base_batch = std::max(1, spec.batch_size());
  if (out.enabled) {
    options.dynamic = !ps.fixed_batches();
    options.reference = ps.reference() == "largest" ? BatchReference::kLargest
                                                    : BatchReference::kMedian;
    options.min_batch = ps.min_batch() > 0 ? ps.min_batch() : std::min(32, options.base_batch);
    options.min_train_samples = ps.no_cold_fallback() ? 0 : ps.min_train_samples();
    options.min_validation_positives = ps.no_cold_fallback() ? 0 : ps.min_validation_positives();
  } else {  // every domain its own adapter, batch_size and lr
    options.dynamic = false;
    options.min_batch = 1;
    options.min_train_samples = 0;
    options.min_validation_positives = 0;
  }
  std::vector<DomainCounts> counts;
  for (int domain : job.finetune_domains) {
    const data::DomainSplit& split = job.splits[domain];
    DomainCounts c;
    c.name = job.dataset.domain_names[domain];
    c.train_samples = static_cast<int64_t>(
        job.stream ? job.ranges[static_cast<size_t>(domain)].train.size() : split.train.size());
    for (uint32_t id : split.validation) c.validation_positives += job.dataset.click[id] > 0.5f;
    counts.push_back(c);
  }
  if (counts.empty()) return out;  // nothing to fine-tune
  StatusOr<DomainPlan> planned = PlanDomains(counts, options);
  if (!planned.ok()) return planned.status().WithContext("domain_plan");
  out.plan = std::move(*planned);
  out.adapter_of_domain.assign(counts.size(), -1);
  int shared = -1;
  for (size_t i = 0; i < counts.size(); ++i) {
    const DomainPlanEntry& e = out.plan.domains[i];
    const data::SampleIds& train = job.splits[job.finetune_domains[i]].train;
    data::IdRanges ranges;  // streamed: the domain's training range
    if (job.stream) ranges.push_back(job.ranges[static_cast<size_t>(job.finetune_domains[i])].train);
    if (e.mode == DomainMode::kBaseModel) continue;
    if (e.mode == DomainMode::kSharedAdapter && shared >= 0) {
      PlannedAdapter& a = out.adapters[static_cast<size_t>(shared)];
      a.name += "+" + e.name;
      a.domains.push_back(static_cast<int>(i));
      a.train_ids.insert(a.train_ids.end(), train.begin(), train.end());
      a.train_ranges.insert(a.train_ranges.end(), ranges.begin(), ranges.end());
      out.adapter_of_domain[i] = shared;
      continue;
    }
    PlannedAdapter a;
    a.name = e.mode == DomainMode::kSharedAdapter ? "shared:" + e.name : e.name;
    a.domains.push_back(static_cast<int>(i));
    a.batch_size = e.batch_size;
    a.lr_scale = e.lr_scale;
    a.train_ids = train;
    a.train_ranges = ranges;
    out.adapter_of_domain[i] = static_cast<int>(out.adapters.size());
    if (e.mode == DomainMode::kSharedAdapter) shared = static_cast<int>(out.adapters.size());
    out.adapters.push_back(std::move(a));
  }
  return out;
}

// AUTO turns the cache on: a worker only ever trains adapters above a frozen
// base, where the cache is exact.
StatusOr<std::unique_ptr<FrozenPrefixCache>> MakeFrozenPrefixCache(const proto::JobSpec& spec,
                                                                   int h_dim, size_t num_samples,
                                                                   int instance) {
  const proto::FrozenPrefixCacheSpec& cache_spec = spec.frozen_prefix_cache();
  if (cache_spec.mode() == proto::FrozenPrefixCacheSpec::MODE_OFF) {
    return std::unique_ptr<FrozenPrefixCache>();
  }
  FrozenPrefixCacheOptions options;
  options.width = h_dim;
  options.num_samples = num_samples;
  const int64_t budget_mb = cache_spec.memory_budget_mb() > 0 ? cache_spec.memory_budget_mb() : 1024;
  options.memory_budget_bytes = static_cast<size_t>(budget_mb) << 20;
  const std::string dir = cache_spec.spill_dir().empty() ? spec.output_dir() : cache_spec.spill_dir();
  if (dir != "-" && !dir.empty()) {
    options.spill_path = dir + "/frozen-prefix-cache-" + std::to_string(instance) + "-" +
                         std::to_string(::getpid()) + ".bin";
  }
  return FrozenPrefixCache::Create(options);
}

}  // namespace iak::worker
