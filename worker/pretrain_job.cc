#include "worker/pretrain_job.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <utility>

#include <glog/logging.h>

#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "embedding/snapshot_writer.h"
#include "embedding/trained_snapshot.h"
#include "worker/dense_models.h"
#include "worker/job_data.h"
#include "worker/local_training.h"
#include "worker/training_setup.h"

namespace iak::worker {
namespace {

// The manifest fields of a base for `job`'s data (WriteModelDirectory fills
// the rest).
proto::ModelManifest BaseManifest(const JobData& job, const model::BaseModelConfig& config,
                                  int64_t samples) {
  proto::ModelManifest manifest;
  for (const data::FieldInfo& field : job.dataset.fields) {
    proto::FieldSchema* schema = manifest.add_fields();
    schema->set_name(field.name);
    schema->set_multi_valued(field.multi_valued);
    schema->set_pooling(field.pooling == data::Pooling::kMean ? "mean" : "sum");
  }
  for (int h : config.bottom_hidden) manifest.add_bottom_hidden(h);
  for (int h : config.tower_hidden) manifest.add_tower_hidden(h);
  manifest.set_num_tasks(config.num_tasks);
  std::string periods;
  for (int domain : job.pretrain_domains) {
    periods += (periods.empty() ? "" : ", ") + job.dataset.domain_names[domain];
  }
  manifest.set_data_description(job.source + ", periods " + periods + ", " +
                                std::to_string(samples) + " samples" +
                                (config.num_tasks == 2 ? ", click and conversion labels" : ""));
  return manifest;
}

// The seeded random base training starts from.
std::unique_ptr<model::BaseModel> InitialBase(const model::BaseModelConfig& config,
                                              uint64_t seed) {
  auto base = std::make_unique<model::BaseModel>(config);
  base->Init(Mix64(seed ^ 0x64656e7365ULL));  // apart from the rows' init seed
  return base;
}

// Mean training loss per data epoch, from the Trainer's step records.
class EpochLosses {
 public:
  void Add(const StepRecord& step) {
    Sum& sum = sums_[step.data_epoch];
    sum.loss += static_cast<double>(step.loss) * step.ids.size();
    sum.samples += static_cast<int64_t>(step.ids.size());
  }
  std::vector<float> Means() const {
    std::vector<float> means;
    for (const auto& [epoch, sum] : sums_) {
      means.push_back(static_cast<float>(sum.loss / std::max<int64_t>(1, sum.samples)));
      LOG(INFO) << "pretrain epoch " << (epoch + 1) << "/" << sums_.size()
                << ": mean training loss " << means.back() << " over " << sum.samples
                << " samples";
    }
    return means;
  }

 private:
  struct Sum {
    double loss = 0;
    int64_t samples = 0;
  };
  std::map<int64_t, Sum> sums_;
};

// Trains `spec`'s pre-training in this process: the Trainer with
// LocalMembership over an empty frozen table, rows in a local overlay.
// `inputs` holds the pre-training view and the initial base.
StatusOr<PretrainedBase> TrainInProcess(const proto::JobSpec& spec, TrainingInputs* inputs,
                                        int64_t samples, std::vector<uint64_t>* keys,
                                        std::vector<float>* values) {
  const proto::JobSpec trainer_spec = PretrainTrainerSpec(spec, samples, 1, "");
  const model::EmbeddingTable empty;
  const model::TableLookup no_rows(&empty);
  EpochLosses losses;
  LocalTrainingOptions local;
  local.on_step_done = [&losses](const StepRecord& step) { losses.Add(step); };
  LocalTraining training(trainer_spec, inputs, &no_rows, local);
  const std::atomic<bool> stop{false};
  IAK_RETURN_IF_ERROR(training.Run(stop).WithContext("pretrain"));
  PretrainedBase out{*inputs->base, {}, losses.Means()};
  const std::vector<float> params = training.trainer().model(0)->Params();
  std::copy(params.begin(), params.end(), out.model.mutable_params());
  const LocalTrainableRows* rows = training.rows().local_trainable(0);
  if (rows == nullptr) return InternalError("pretrain: the trainer made no trainable rows");
  const int dim = out.model.config().embedding_dim;
  rows->overlay().ForEach([&](uint64_t key, const float* row) {
    keys->push_back(key);
    values->insert(values->end(), row, row + dim);
  });
  return out;
}

}  // namespace

StatusOr<int> ResolveNumTasks(int requested, bool has_conversion, const std::string& source) {
  switch (requested) {
    case 0:
      return has_conversion ? 2 : 1;
    case 1:
      return 1;
    case 2:
      if (has_conversion) return 2;
      return InvalidArgumentError(
          "num_tasks 2 (ESMM: CTR and CTCVR towers) needs conversion labels, and the data (" +
          source +
          ") has none: give the schema a COLUMN_CONVERSION column (docs/data.md), or "
          "pre-train a click model with num_tasks 1 or auto");
    default:
      return InvalidArgumentError("num_tasks must be auto (0), 1 (CTR) or 2 (ESMM: CTR and "
                                  "CTCVR), not " +
                                  std::to_string(requested));
  }
}

proto::JobSpec PretrainJobSpec(const PretrainJobOptions& options) {
  proto::JobSpec spec;
  spec.set_name("pretrain");
  *spec.mutable_data() = options.data;
  spec.set_model_dir(options.model_dir);
  spec.set_num_servers(options.num_shards);
  spec.set_num_workers(1);
  spec.set_seed(options.train.seed);
  *spec.mutable_pretrain() = PretrainSpecOf(options.train, options.num_tasks);
  return spec;
}

StatusOr<PretrainJobResult> RunPretrainJob(const PretrainJobOptions& options) {
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(options.data));
  // Checked before the (long) training, so a wrong request fails at once.
  IAK_ASSIGN_OR_RETURN(const int num_tasks, ResolveNumTasks(options.num_tasks,
                                                            job.dataset.has_conversion(),
                                                            job.source));
  LOG(INFO) << "read " << job.dataset.size() << " samples in " << job.dataset.domain_names.size()
            << " domains from " << job.source << (job.dataset.has_conversion()
                                                      ? " (with conversion labels)"
                                                      : " (click labels only)");
  if (job.dataset.has_conversion() && num_tasks == 1) {
    LOG(WARNING) << "pre-training a one-task (CTR) base although the data has conversion "
                    "labels: they are not trained on, and evaluation reports no CTCVR-AUC";
  }
  IAK_ASSIGN_OR_RETURN(const model::BaseModelConfig config,
                       PretrainBaseConfig(options.train, job.dataset.num_fields(), num_tasks));
  data::SampleIds ids = PretrainSampleIds(job);
  const int64_t samples = static_cast<int64_t>(ids.size());
  const proto::ModelManifest manifest = BaseManifest(job, config, samples);
  PretrainJobResult result;
  result.samples = samples;
  result.has_conversion = job.dataset.has_conversion();
  TrainingInputs inputs;
  inputs.job = std::move(job);
  IAK_RETURN_IF_ERROR(ToPretrainingView(std::move(ids), &inputs.job));
  inputs.base = InitialBase(config, options.train.seed);
  LOG(INFO) << "pre-training a " << (num_tasks == 2 ? "two-task ESMM (CTR, CTCVR)" : "CTR")
            << " base on " << samples << " samples";
  std::vector<uint64_t> keys;
  std::vector<float> values;
  IAK_ASSIGN_OR_RETURN(PretrainedBase trained,
                       TrainInProcess(PretrainJobSpec(options), &inputs, samples, &keys, &values));

  embedding::SnapshotContents contents;
  contents.options.embedding_dim = config.embedding_dim;
  contents.options.num_shards = options.num_shards;
  contents.keys = &keys;
  contents.values = &values;
  contents.options.dense_blob = trained.model.Serialize();
  contents.options.base_manifest = manifest;
  contents.options.overwrite = options.overwrite;
  IAK_RETURN_IF_ERROR(embedding::WriteModelDirectory(options.model_dir, contents));
  IAK_ASSIGN_OR_RETURN(proto::ModelManifest written, embedding::ReadManifest(options.model_dir));
  result.snapshot_id = written.snapshot_id();
  result.rows = keys.size();
  result.epoch_losses = std::move(trained.epoch_losses);
  result.num_tasks = written.num_tasks();
  return result;
}

StatusOr<PretrainedBase> PretrainOnSamples(const data::Dataset& data, const data::SampleIds& ids,
                                           const PretrainOptions& options, int num_tasks) {
  IAK_ASSIGN_OR_RETURN(const model::BaseModelConfig config,
                       PretrainBaseConfig(options, data.num_fields(), num_tasks));
  if (num_tasks == 2 && !data.has_conversion()) {
    return InvalidArgumentError(
        "pretrain: num_tasks = 2 (ESMM) needs conversion labels, which this dataset lacks");
  }
  TrainingInputs inputs;
  inputs.job.dataset = data;
  inputs.job.source = "samples";
  IAK_RETURN_IF_ERROR(ToPretrainingView(ids, &inputs.job));
  inputs.base = InitialBase(config, options.seed);
  PretrainJobOptions job;
  job.train = options;
  job.num_tasks = num_tasks;
  std::vector<uint64_t> keys;
  std::vector<float> values;
  IAK_ASSIGN_OR_RETURN(PretrainedBase trained,
                       TrainInProcess(PretrainJobSpec(job), &inputs,
                                      static_cast<int64_t>(ids.size()), &keys, &values));
  const size_t dim = static_cast<size_t>(config.embedding_dim);
  for (size_t i = 0; i < keys.size(); ++i) {
    trained.table.emplace(keys[i], std::vector<float>(values.begin() + i * dim,
                                                      values.begin() + (i + 1) * dim));
  }
  return trained;
}

std::string InitialModelDir(const proto::JobSpec& spec) { return spec.model_dir() + ".init"; }

StatusOr<PretrainJobResult> RunClusterPretrain(const proto::JobSpec& spec,
                                               const ClusterJobRunner& run_job, bool overwrite) {
  // Streamed (data.stream): only the shard set's manifest and ranges are
  // read here; the workers read the samples batch by batch.
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(spec.data(), spec.data().stream()));
  IAK_ASSIGN_OR_RETURN(const int num_tasks, ResolveNumTasks(spec.pretrain().num_tasks(),
                                                            job.dataset.has_conversion(),
                                                            job.source));
  const PretrainOptions options = PretrainOptionsOf(spec);
  IAK_ASSIGN_OR_RETURN(const model::BaseModelConfig config,
                       PretrainBaseConfig(options, job.dataset.num_fields(), num_tasks));
  int64_t samples = 0;
  if (job.stream != nullptr) {
    IAK_ASSIGN_OR_RETURN(const data::IdRange range, PretrainRange(job));
    samples = static_cast<int64_t>(range.size());
  } else {
    const data::SampleIds ids = PretrainSampleIds(job);
    IAK_RETURN_IF_ERROR(CheckPretrainSamples(ids, job.dataset.size()));
    samples = static_cast<int64_t>(ids.size());
  }
  // The servers write the trained snapshot into model_dir and refuse one
  // that already holds a model.
  std::error_code ec;
  if (std::filesystem::exists(embedding::ManifestPath(spec.model_dir()), ec)) {
    if (!overwrite) {
      return FailedPreconditionError(spec.model_dir() +
                                     " already holds a model; pass --overwrite or choose another "
                                     "model_dir");
    }
    std::filesystem::remove_all(spec.model_dir(), ec);
  }
  // The initial model: an empty snapshot in num_servers shards and the
  // seeded dense weights, which the servers serve and the workers load.
  const std::string initial_dir = InitialModelDir(spec);
  const std::vector<uint64_t> no_keys;
  const std::vector<float> no_values;
  embedding::SnapshotContents contents;
  contents.options.embedding_dim = config.embedding_dim;
  contents.options.num_shards = spec.num_servers();
  contents.keys = &no_keys;
  contents.values = &no_values;
  contents.options.dense_blob = InitialBase(config, options.seed)->Serialize();
  contents.options.base_manifest = BaseManifest(job, config, samples);
  contents.options.overwrite = true;
  IAK_RETURN_IF_ERROR(embedding::WriteModelDirectory(initial_dir, contents)
                          .WithContext("pretrain: the initial model"));
  const proto::JobSpec trainer_spec =
      PretrainTrainerSpec(spec, samples, spec.num_workers(), initial_dir);
  LOG(INFO) << "pre-training a " << (num_tasks == 2 ? "two-task ESMM (CTR, CTCVR)" : "CTR")
            << " base on " << samples << " samples with " << spec.num_workers()
            << " worker(s) and " << spec.num_servers() << " server(s)";
  IAK_RETURN_IF_ERROR(run_job(trainer_spec));
  // Rank 0 wrote the dense weights of the one unit (named after the first
  // pre-training period); the servers wrote the shards.
  const std::string unit = job.dataset.domain_names[static_cast<size_t>(
      job.pretrain_domains.empty() ? 0 : job.pretrain_domains.front())];
  IAK_ASSIGN_OR_RETURN(model::BaseModel dense, LoadMethodModel(trainer_spec.output_dir(), unit));
  embedding::FinalizeOptions finalize;
  finalize.source_model_dir = initial_dir;
  finalize.dense_blob = dense.Serialize();
  IAK_ASSIGN_OR_RETURN(proto::ModelManifest written,
                       embedding::FinalizeTrainedSnapshot(spec.model_dir(), finalize));
  std::filesystem::remove_all(initial_dir, ec);  // the model no longer needs it
  PretrainJobResult result;
  result.snapshot_id = written.snapshot_id();
  result.samples = samples;
  result.num_tasks = written.num_tasks();
  result.has_conversion = job.dataset.has_conversion();
  for (const proto::ShardInfo& shard : written.shards()) result.rows += shard.num_rows();
  return result;
}

}  // namespace iak::worker
