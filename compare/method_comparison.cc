#include "compare/method_comparison.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <unordered_set>

#include <glog/logging.h>
#include <google/protobuf/text_format.h>

#include "data/split.h"
#include "job/job_spec.h"
#include "embedding/model_directory.h"
#include "model/metrics.h"
#include "worker/dense_models.h"
#include "worker/local_lookup.h"
#include "worker/local_training.h"
#include "worker/training_setup.h"
#include "worker/validation.h"

namespace iak::compare {
namespace {

constexpr int kScoreBatch = 1024;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool IsIak(Method m) { return m == Method::kIak || m == Method::kIakRows; }
bool IsAdapter(Method m) { return m == Method::kPlain || IsIak(m); }

// The job spec's method: iak_rows is iak with new-key rows.
const char* SpecMethod(Method m) { return m == Method::kIakRows ? "iak" : MethodName(m); }

// iak_rows: the options' new-key rows, unless the job spec has its own.
void SetNewKeyRows(Method m, const ComparisonOptions& o, proto::JobSpec* spec) {
  if (m != Method::kIakRows || spec->iak().new_key_rows().enabled()) return;
  *spec->mutable_iak()->mutable_new_key_rows() = o.new_key_rows;
  spec->mutable_iak()->mutable_new_key_rows()->set_enabled(true);
}

// Steps of one epoch over `n` samples in batches of `batch`.
int64_t EpochSteps(int64_t n, int batch, int max_steps) {
  int64_t steps = (n + batch - 1) / batch;
  if (max_steps > 0) steps = std::min<int64_t>(steps, max_steps);
  return std::max<int64_t>(steps, 1);
}

struct Aucs {
  double ctr = kNaN;
  double ctcvr = kNaN;
  std::vector<float> scores;  // CTR, in the order of the ids
  std::vector<float> clicks;
};

// AUCs of `model` on `ids` (CTCVR when asked and the data has conversions).
StatusOr<Aucs> Score(worker::DomainModel* model, const data::Dataset& data,
                     const data::SampleIds& ids, bool ctcvr) {
  std::vector<float> p(ids.size()), q(ctcvr ? ids.size() : 0), click(ids.size()),
      conversion(ids.size());
  for (size_t begin = 0; begin < ids.size(); begin += kScoreBatch) {
    const int n = static_cast<int>(std::min<size_t>(kScoreBatch, ids.size() - begin));
    IAK_RETURN_IF_ERROR(
        model->Score(ids.data() + begin, n, p.data() + begin, ctcvr ? q.data() + begin : nullptr));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    click[i] = data.click[ids[i]];
    conversion[i] = data.has_conversion() ? data.conversion[ids[i]] : 0.0f;
  }
  Aucs out;
  StatusOr<double> auc = model::RocAuc(p, click);
  if (auc.ok()) out.ctr = *auc;
  if (ctcvr) {
    StatusOr<double> a = model::CtcvrAuc(q, click, conversion);
    if (a.ok()) out.ctcvr = *a;
  }
  out.scores = std::move(p);
  out.clicks = std::move(click);
  return out;
}

// Rows one epoch over `train` pulls on a cluster of `workers` (each its
// share's unique keys per batch), computed from the batches.
int64_t RowsPulledPerEpoch(const data::Dataset& data, const data::SampleIds& train, int batch,
                           int max_steps, int workers) {
  int64_t rows = 0;
  std::unordered_set<uint64_t> unique;
  size_t limit = train.size();
  if (max_steps > 0) limit = std::min(limit, static_cast<size_t>(max_steps) * batch);
  for (size_t begin = 0; begin < limit; begin += static_cast<size_t>(batch)) {
    const size_t end = std::min(limit, begin + batch);
    for (int w = 0; w < workers; ++w) {
      unique.clear();
      for (size_t s = begin + w; s < end; s += static_cast<size_t>(workers)) {
        for (int f = 0; f < data.num_fields(); ++f) {
          size_t count = 0;
          const uint64_t* keys = data.FieldKeys(train[s], f, &count);
          unique.insert(keys, keys + count);
        }
      }
      rows += static_cast<int64_t>(unique.size());
    }
  }
  return rows;
}

}  // namespace

const char* MethodName(Method method) {
  switch (method) {
    case Method::kFrozen: return "frozen";
    case Method::kFull: return "full";
    case Method::kDense: return "dense";
    case Method::kLora: return "lora";
    case Method::kPlain: return "plain";
    case Method::kIak: return "iak";
    case Method::kIakRows: return "iak_rows";
  }
  return "?";
}

std::vector<Method> AllMethods() {
  return {Method::kFrozen, Method::kFull, Method::kDense, Method::kLora, Method::kPlain,
          Method::kIak, Method::kIakRows};
}

StatusOr<Method> ParseMethod(const std::string& name) {
  for (Method m : AllMethods()) {
    if (name == MethodName(m)) return m;
  }
  return InvalidArgumentError("unknown method '" + name +
                              "'; choose from frozen, full, dense, lora, plain, iak");
}

StatusOr<MethodVariant> ParseMethodVariant(const std::string& text) {
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    return InvalidArgumentError("method variant '" + text +
                                "': expected NAME=METHOD or NAME=METHOD:SPEC TEXT");
  }
  MethodVariant v;
  v.name = text.substr(0, equals);
  const size_t colon = text.find(':', equals);
  const std::string method = text.substr(equals + 1, colon == std::string::npos
                                                         ? std::string::npos
                                                         : colon - equals - 1);
  StatusOr<Method> parsed = ParseMethod(method);
  if (!parsed.ok()) return parsed.status().WithContext("method variant " + v.name);
  v.method = *parsed;
  if (colon != std::string::npos) v.spec_override = text.substr(colon + 1);
  proto::JobSpec check;
  if (!google::protobuf::TextFormat::MergeFromString(v.spec_override, &check)) {
    return InvalidArgumentError("method variant " + v.name + ": the spec override '" +
                                v.spec_override +
                                "' is not a text-format JobSpec (docs/job_spec.md)");
  }
  return v;
}

StatusOr<proto::JobSpec> ComparisonSpec(Method method, const worker::JobData& job,
                                        const ComparisonOptions& o) {
  proto::JobSpec spec;
  if (o.job.has_value()) {
    spec = *o.job;
    spec.set_method(SpecMethod(method));
    spec.mutable_iak()->set_plain_adapter(method == Method::kPlain);
    SetNewKeyRows(method, o, &spec);
    if (method == Method::kLora && spec.lora().rank() == 0) {
      spec.mutable_lora()->set_rank(4);
      spec.mutable_lora()->set_alpha(4);
    }
    return spec;
  }
  if (o.epochs < 0) return InvalidArgumentError("compare: epochs must be >= 0");
  if (o.batch_size <= 0) return InvalidArgumentError("compare: batch_size must be > 0");
  spec.set_name(std::string("compare-") + MethodName(method));
  spec.set_method(SpecMethod(method));
  SetNewKeyRows(method, o, &spec);
  spec.set_seed(o.seed);
  spec.set_batch_size(o.batch_size);
  proto::IakSpec* iak = spec.mutable_iak();
  iak->set_latent_dim(o.latent_dim);
  for (int h : o.adapter_hidden) {
    iak->add_encoder_hidden(h);
    iak->add_decoder_hidden(h);
  }
  iak->set_plain_adapter(method == Method::kPlain);
  // iak_rows trains its rows below an adapter on h, whatever iak_insertion says.
  if (method == Method::kIak) iak->set_insertion(worker::AdapterInsertionName(o.iak_insertion));
  spec.mutable_lora()->set_rank(o.lora.rank);
  spec.mutable_lora()->set_alpha(o.lora.alpha);
  spec.mutable_trainable()->set_optimizer("adagrad");
  spec.mutable_trainable()->set_learning_rate(o.embedding_lr);
  if (IsAdapter(method)) {
    proto::DomainPlanSpec* plan = spec.mutable_domain_plan();
    plan->set_enabled(true);
    plan->set_fixed_batches(!o.dynamic_batches);
    plan->set_no_cold_fallback(!o.cold_domain_fallback);
    plan->set_reference(o.plan.reference == worker::BatchReference::kLargest ? "largest"
                                                                             : "median");
    plan->set_min_batch(std::min(o.plan.min_batch, o.batch_size));
    plan->set_min_train_samples(o.plan.min_train_samples);
    plan->set_min_validation_positives(o.plan.min_validation_positives);
  }
  if (!o.prefix_cache) {
    spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
  }
  spec.mutable_frozen_prefix_cache()->set_spill_dir("-");
  spec.mutable_timeouts()->set_collective_timeout_ms(60000);
  // Epochs' worth of steps: each domain round-robin gets about `epochs`
  // passes over an average domain's training split.
  int64_t epoch_steps = 0;
  for (int d : job.finetune_domains) {
    epoch_steps += EpochSteps(static_cast<int64_t>(job.splits[d].train.size()), o.batch_size,
                              o.max_steps_per_epoch);
  }
  const int64_t total = static_cast<int64_t>(o.epochs) * epoch_steps;
  const int64_t per_validation = std::max<int64_t>(
      1, epoch_steps / std::max(1, o.validations_per_epoch));
  spec.mutable_validation()->set_every_n_steps(static_cast<int32_t>(per_validation));
  spec.mutable_validation()->set_patience(o.patience);
  if (IsIak(method)) {
    const int64_t compression =
        static_cast<int64_t>(std::ceil(total * o.compression_fraction - 1e-9));
    proto::PhaseCommand* c = spec.add_phases();
    c->set_phase(proto::PHASE_COMPRESSION);
    c->set_steps(compression);
    c->set_beta(o.beta_compression);
    c->set_learning_rate(o.adapter_lr);
    proto::PhaseCommand* m = spec.add_phases();
    m->set_phase(proto::PHASE_MATCHING);
    m->set_steps(total - compression);
    m->set_beta(o.beta_matching);
    m->set_learning_rate(o.adapter_lr / 2);
  } else {
    proto::PhaseCommand* c = spec.add_phases();
    c->set_phase(proto::PHASE_COMPRESSION);
    c->set_steps(method == Method::kFrozen ? 0 : total);
    c->set_learning_rate(IsAdapter(method) ? o.adapter_lr : o.dense_lr);
  }
  return spec;
}

namespace {

// Clears in `to` every list (repeated field) that `from` sets, in `from`'s
// sub-messages too, so that a MergeFrom after it replaces those lists instead
// of adding to them: a variant's `encoder_hidden: 0` or `fields: ["movie"]`
// states the list the variant runs with.
void ClearListsSetIn(const google::protobuf::Message& from, google::protobuf::Message* to) {
  const google::protobuf::Reflection* in = from.GetReflection();
  const google::protobuf::Reflection* out = to->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  in->ListFields(from, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->is_repeated()) {
      out->ClearField(to, field);
    } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
               out->HasField(*to, field)) {
      ClearListsSetIn(in->GetMessage(from, field), out->MutableMessage(to, field));
    }
  }
}

// Every run's spec (its method's, then the variant's override), checked
// before the first one trains.
StatusOr<std::vector<proto::JobSpec>> RunSpecs(const std::vector<MethodVariant>& runs,
                                               const worker::JobData& job,
                                               const ComparisonOptions& o) {
  std::vector<proto::JobSpec> specs;
  for (const MethodVariant& variant : runs) {
    IAK_ASSIGN_OR_RETURN(proto::JobSpec spec, ComparisonSpec(variant.method, job, o));
    proto::JobSpec override_spec;
    if (!google::protobuf::TextFormat::ParseFromString(variant.spec_override, &override_spec)) {
      return InvalidArgumentError("compare: the spec override of " + variant.name +
                                  " does not parse: " + variant.spec_override);
    }
    ClearListsSetIn(override_spec, &spec);
    spec.MergeFrom(override_spec);
    // A job's spec with a variant's override is checked as `iak submit`
    // checks a spec.
    if (o.job.has_value()) {
      IAK_RETURN_IF_ERROR(job::Validate(spec).WithContext("compare " + variant.name));
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace

StatusOr<MethodReport> RunComparison(const worker::JobData& job, const model::BaseModel& base,
                                     const model::RowLookup& rows,
                                     const ComparisonOptions& o) {
  if (o.methods.empty()) return InvalidArgumentError("compare: no methods chosen");
  if (o.network_workers < 1) return InvalidArgumentError("compare: network_workers must be >= 1");
  // A share outside [0, 1] gave a phase negative steps (skipped without a
  // word); NaN made the step count undefined.
  if (!(o.compression_fraction >= 0.0 && o.compression_fraction <= 1.0)) {
    return InvalidArgumentError("compare: compression_fraction (--compare_compression_fraction) "
                                "must be in [0, 1], got " +
                                std::to_string(o.compression_fraction));
  }
  if (o.plan.min_batch < 1) {
    return InvalidArgumentError("compare: the smallest dynamic batch (--compare_min_batch) must "
                                "be >= 1, got " + std::to_string(o.plan.min_batch));
  }
  if (job.dataset.num_fields() != base.config().num_fields) {
    return FailedPreconditionError(
        "compare: the data has " + std::to_string(job.dataset.num_fields()) +
        " fields but the model directory's base model expects " +
        std::to_string(base.config().num_fields) + "; pre-train on this data first");
  }
  IAK_RETURN_IF_ERROR(model::ValidateLoraConfig(o.lora).WithContext("compare"));
  worker::TrainingInputs inputs;
  inputs.job = job;
  inputs.base = std::make_unique<model::BaseModel>(base);
  const data::Dataset& data = inputs.job.dataset;
  const bool ctcvr = data.has_conversion() && base.config().num_tasks == 2;
  const int dim = base.config().embedding_dim;
  MethodReport report;
  report.has_ctcvr = ctcvr;
  report.network_workers = o.network_workers;
  const std::atomic<bool> never(false);
  std::vector<MethodVariant> runs;
  for (Method method : o.methods) runs.push_back(MethodVariant{MethodName(method), method, ""});
  runs.insert(runs.end(), o.variants.begin(), o.variants.end());
  IAK_ASSIGN_OR_RETURN(const std::vector<proto::JobSpec> specs, RunSpecs(runs, job, o));
  for (size_t r = 0; r < runs.size(); ++r) {
    const MethodVariant& variant = runs[r];
    const Method method = variant.method;
    const proto::JobSpec& spec = specs[r];
    worker::LocalTraining run(spec, &inputs, &rows);
    const auto began = std::chrono::steady_clock::now();
    IAK_RETURN_IF_ERROR(run.Run(never).WithContext("compare " + variant.name));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    worker::Trainer& trainer = run.trainer();
    int64_t total_steps = 0;
    for (const worker::TrainedUnit& unit : trainer.units()) total_steps += unit.steps;
    const int epochs = std::max(1, o.job.has_value() ? 1 : o.epochs);
    // The base, for domains the plan leaves to it.
    worker::DenseContext frozen_context;
    frozen_context.data = &data;
    frozen_context.base = inputs.base.get();
    frozen_context.rows = run.rows().frozen();
    worker::FrozenModel frozen(frozen_context);
    const worker::JobDomainPlan& plan = trainer.plan();
    for (size_t i = 0; i < job.finetune_domains.size(); ++i) {
      const int domain = job.finetune_domains[i];
      const data::DomainSplit& split = job.splits[domain];
      MethodDomainResult r;
      r.method = variant.name;
      r.domain = data.domain_names[domain];
      r.train_samples = static_cast<int64_t>(split.train.size());
      r.validation_samples = static_cast<int64_t>(split.validation.size());
      r.test_samples = static_cast<int64_t>(split.test.size());
      const int unit_index = plan.adapter_of_domain.empty() ? -1 : plan.adapter_of_domain[i];
      worker::DomainModel* model =
          unit_index >= 0 ? trainer.model(unit_index) : static_cast<worker::DomainModel*>(&frozen);
      if (IsAdapter(method) && i < plan.plan.domains.size()) {
        r.mode = worker::DomainModeName(plan.plan.domains[i].mode);
        r.plan_note = plan.plan.domains[i].reason;
      }
      IAK_ASSIGN_OR_RETURN(Aucs validation, Score(model, data, split.validation, false));
      IAK_ASSIGN_OR_RETURN(Aucs test, Score(model, data, split.test, ctcvr));
      r.validation_auc = validation.ctr;
      r.test_auc = test.ctr;
      r.test_ctcvr_auc = test.ctcvr;
      r.test_scores = std::move(test.scores);
      r.test_labels = std::move(test.clicks);
      if (unit_index >= 0 && method != Method::kFrozen) {
        const worker::TrainedUnit& unit = trainer.units()[static_cast<size_t>(unit_index)];
        const int64_t sharing = static_cast<int64_t>(unit.domains.size());
        r.best_step = unit.validation.best_step();
        r.kept_base = worker::KeptBase(unit.validation);
        r.stopped_early = unit.validation.stopped();
        r.batch_size = unit.batch_size;
        r.lr = spec.phases(0).learning_rate() * unit.lr_scale;
        r.seconds_per_epoch = total_steps > 0 ? seconds * unit.steps / total_steps / epochs / sharing : 0;
        // A shared unit's validation is its domains' pooled split.
        if (worker::SelectsBest(unit.validation)) r.validation_auc = unit.validation.best_auc();
        const std::vector<float> params = model->Params();
        r.trainable_params = model->num_trained_values() / sharing;
        r.checkpoint_bytes = model->CheckpointBytes() / sharing;
        const int64_t pulled =
            RowsPulledPerEpoch(data, split.train, unit.batch_size, o.max_steps_per_epoch,
                               o.network_workers) * (8 + 4 * static_cast<int64_t>(dim));
        const bool cached = IsAdapter(method) && method != Method::kIakRows && o.prefix_cache;
        r.pull_bytes = cached ? pulled / epochs : pulled;
        r.push_bytes = method == Method::kFull ? pulled : 0;
        const int64_t steps_per_epoch =
            EpochSteps(r.train_samples, unit.batch_size, o.max_steps_per_epoch);
        r.allreduce_bytes = 2 * (o.network_workers - 1) * static_cast<int64_t>(params.size()) *
                            4 * steps_per_epoch;
      }
      LOG(INFO) << "compare: " << r.method << " on " << r.domain << " (" << r.mode << ", batch "
                << r.batch_size << "): validation AUC " << r.validation_auc << ", test AUC "
                << r.test_auc << (r.kept_base ? " (kept base)" : "") << ", "
                << r.seconds_per_epoch << " s/epoch";
      report.results.push_back(r);
    }
  }
  return report;
}

StatusOr<MethodReport> RunComparisonOnModelDir(const proto::DataSpec& data,
                                               const std::string& model_dir,
                                               const ComparisonOptions& options) {
  IAK_ASSIGN_OR_RETURN(worker::LocalInputs local, worker::LoadLocalInputs(data, model_dir));
  worker::LocalLookup rows(local.table.get());
  return RunComparison(local.inputs.job, *local.inputs.base, rows, options);
}

}  // namespace iak::compare
