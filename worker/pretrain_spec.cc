#include "worker/pretrain_spec.h"

#include <algorithm>
#include <utility>

namespace iak::worker {

proto::PretrainSpec PretrainSpecOf(const PretrainOptions& options, int num_tasks) {
  proto::PretrainSpec spec;
  spec.set_enabled(true);
  spec.set_epochs(options.epochs);
  spec.set_batch_size(options.batch_size);
  spec.set_embedding_dim(options.embedding_dim);
  for (int h : options.bottom_hidden) spec.add_bottom_hidden(h);
  for (int h : options.tower_hidden) spec.add_tower_hidden(h);
  spec.set_num_tasks(num_tasks);
  spec.set_dense_lr(options.dense_lr);
  spec.set_embedding_lr(options.embedding_lr);
  spec.set_embedding_init_scale(options.embedding_init_scale);
  spec.set_key_dropout(options.key_dropout);
  for (const std::string& f : options.key_dropout_fields) spec.add_key_dropout_fields(f);
  return spec;
}

PretrainOptions PretrainOptionsOf(const proto::JobSpec& job) {
  const proto::PretrainSpec& spec = job.pretrain();
  PretrainOptions o;
  if (spec.epochs() != 0) o.epochs = spec.epochs();
  if (spec.batch_size() != 0) o.batch_size = spec.batch_size();
  if (spec.dense_lr() != 0) o.dense_lr = spec.dense_lr();
  if (spec.embedding_lr() != 0) o.embedding_lr = spec.embedding_lr();
  if (spec.embedding_init_scale() != 0) o.embedding_init_scale = spec.embedding_init_scale();
  if (spec.embedding_dim() != 0) o.embedding_dim = spec.embedding_dim();
  if (spec.bottom_hidden_size() > 0) {
    o.bottom_hidden.assign(spec.bottom_hidden().begin(), spec.bottom_hidden().end());
  }
  if (spec.tower_hidden_size() > 0) {
    o.tower_hidden.assign(spec.tower_hidden().begin(), spec.tower_hidden().end());
  }
  o.key_dropout = spec.key_dropout();
  if (spec.key_dropout_fields_size() > 0) {
    o.key_dropout_fields.assign(spec.key_dropout_fields().begin(),
                                spec.key_dropout_fields().end());
  }
  o.seed = job.seed();
  return o;
}

StatusOr<model::BaseModelConfig> PretrainBaseConfig(const PretrainOptions& options,
                                                    int num_fields, int num_tasks) {
  if (options.epochs < 0) return InvalidArgumentError("pretrain: epochs must be >= 0");
  if (options.batch_size <= 0) return InvalidArgumentError("pretrain: batch_size must be > 0");
  if (!(options.dense_lr > 0.0f) || !(options.embedding_lr > 0.0f) ||
      !(options.embedding_init_scale > 0.0f)) {
    return InvalidArgumentError(
        "pretrain: dense_lr, embedding_lr and embedding_init_scale must be > 0");
  }
  if (!(options.key_dropout >= 0.0f && options.key_dropout < 1.0f)) {
    return InvalidArgumentError("pretrain: key_dropout must be in [0, 1)");
  }
  model::BaseModelConfig config;
  config.embedding_dim = options.embedding_dim;
  config.num_fields = num_fields;
  config.bottom_hidden = options.bottom_hidden;
  config.tower_hidden = options.tower_hidden;
  config.num_tasks = num_tasks;
  IAK_RETURN_IF_ERROR(model::ValidateBaseModelConfig(config).WithContext("pretrain"));
  return config;
}

data::SampleIds PretrainSampleIds(const JobData& job) {
  data::SampleIds ids;
  for (int domain : job.pretrain_domains) {
    const data::DomainSplit& split = job.splits[static_cast<size_t>(domain)];
    for (const data::SampleIds* part : {&split.train, &split.validation, &split.test}) {
      ids.insert(ids.end(), part->begin(), part->end());
    }
  }
  return ids;
}

Status CheckPretrainSamples(const data::SampleIds& ids, size_t dataset_size) {
  if (ids.empty()) {
    return InvalidArgumentError("the pre-training periods hold no samples; check "
                                "data.period_bounds and data.pretrain_periods");
  }
  for (uint32_t id : ids) {
    if (id >= dataset_size) {
      return InvalidArgumentError("pretrain: sample id " + std::to_string(id) +
                                  " is outside the dataset of " + std::to_string(dataset_size) +
                                  " samples");
    }
  }
  return Status::Ok();
}

StatusOr<data::IdRange> PretrainRange(const JobData& job) {
  data::IdRange all;
  bool first = true;
  for (int domain : job.pretrain_domains) {
    const data::DomainRanges& r = job.ranges[static_cast<size_t>(domain)];
    const bool contiguous = r.train.end == r.validation.begin &&
                            r.validation.end == r.test.begin &&
                            (first || all.end == r.train.begin);
    if (!contiguous) {
      return FailedPreconditionError(
          "streamed pre-training needs the pre-training periods to be one range of the "
          "domain-ordered shard set (data.pretrain_periods, not pretrain_random_share); drop "
          "data.stream");
    }
    if (first) all.begin = r.train.begin;
    all.end = r.test.end;
    first = false;
  }
  if (all.size() == 0) return CheckPretrainSamples({}, 0);  // its error
  return all;
}

Status ToPretrainingView(data::SampleIds ids, JobData* job) {
  const int unit = job->pretrain_domains.empty() ? 0 : job->pretrain_domains.front();
  if (job->stream != nullptr) {
    // Streamed: the unit's ids are the pre-training periods' range.
    IAK_ASSIGN_OR_RETURN(const data::IdRange range, PretrainRange(*job));
    job->splits.assign(job->splits.size(), data::DomainSplit());
    job->ranges[static_cast<size_t>(unit)].train = range;
    job->finetune_domains = {unit};
    return Status::Ok();
  }
  IAK_RETURN_IF_ERROR(CheckPretrainSamples(ids, job->dataset.size()));
  if (job->dataset.domain_names.empty()) job->dataset.domain_names.push_back("pretrain");
  job->splits.assign(std::max(job->splits.size(), static_cast<size_t>(unit) + 1),
                     data::DomainSplit());
  job->splits[static_cast<size_t>(unit)].train = std::move(ids);
  job->finetune_domains = {unit};
  return Status::Ok();
}

proto::JobSpec PretrainTrainerSpec(const proto::JobSpec& spec, int64_t num_samples,
                                   int num_workers, const std::string& initial_model_dir) {
  const PretrainOptions o = PretrainOptionsOf(spec);
  proto::JobSpec trainer = spec;
  trainer.set_model_dir(initial_model_dir);
  // Rank 0 writes the trained dense weights (models/<unit>.dense) there.
  if (trainer.output_dir().empty()) trainer.set_output_dir(spec.model_dir() + ".out");
  trainer.set_method("full");
  trainer.set_batch_size(o.batch_size);
  const int64_t per_step = static_cast<int64_t>(o.batch_size) * std::max(1, num_workers);
  trainer.clear_phases();
  proto::PhaseCommand* phase = trainer.add_phases();
  phase->set_phase(proto::PHASE_COMPRESSION);  // unused by "full": one plain phase
  phase->set_steps(static_cast<int64_t>(o.epochs) * ((num_samples + per_step - 1) / per_step));
  phase->set_learning_rate(o.dense_lr);
  proto::TrainableSpec* rows = trainer.mutable_trainable();
  rows->set_optimizer("adagrad");
  rows->set_learning_rate(o.embedding_lr);
  rows->set_init_scale(o.embedding_init_scale);
  rows->set_init_seed(o.seed ^ 0x726f7773ULL);  // apart from the dense init
  rows->set_output_model_dir(spec.model_dir());
  trainer.mutable_validation()->set_disabled(true);
  trainer.clear_domain_plan();
  // The servers' rows are not checkpointed: a resumed run would pair saved
  // dense weights with freshly initialised rows.
  trainer.mutable_checkpoint()->set_resume(false);
  return trainer;
}

}  // namespace iak::worker
