#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <utility>

#include "common/report_text.h"
#include "data/split.h"
#include "model/blas_threads.h"
#include "model/finite_check.h"
#include "scheduler/phase_name.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/batch_pipeline.h"
#include "worker/model_factory.h"
#include "worker/training_results.h"

namespace iak::worker {
namespace {

using SteadyClock = std::chrono::steady_clock;
using scheduler::PhaseName;

double MsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

// What every refusal of a checkpoint tells the user to do.
constexpr char kResumeFix[] =
    "; resume only with the job spec that wrote it, or remove the directory";

std::string CheckpointDirOf(const proto::JobSpec& spec) {
  return spec.checkpoint().directory().empty() ? spec.output_dir() + "/checkpoints"
                                               : spec.checkpoint().directory();
}

// The width of the frozen prefix an adapter method caches per sample: x for
// an adapter on x, h otherwise; 0 for methods that train below it.
int PrefixWidth(const proto::JobSpec& spec, const model::BaseModelConfig& config) {
  if (!IsAdapterMethod(spec.method())) return 0;
  if (spec.iak().new_key_rows().enabled()) return 0;  // rows below the adapter train
  return spec.iak().insertion() == "x" ? config.input_dim() : config.h_dim();
}

}  // namespace

Trainer::Trainer(TrainerOptions options, const TrainingInputs* inputs, Membership* membership,
                 RowAccess* rows, TrainerCounters counters)
    : options_(std::move(options)),
      inputs_(inputs),
      membership_(membership),
      rows_(rows),
      counters_(counters) {}

Trainer::~Trainer() = default;

Status Trainer::Setup() {
  const proto::JobSpec& spec = options_.spec;
  const JobData& job = inputs_->job;
  IAK_RETURN_IF_ERROR(CheckMethod(spec.method().empty() ? "iak" : spec.method()));
  validation_ = ValidationOptionsFor(spec);
  IAK_ASSIGN_OR_RETURN(plan_, PlanJobDomains(spec, job));
  for (const PlannedAdapter& planned : plan_.adapters) {
    TrainedUnit unit;
    unit.name = planned.name;
    unit.domains = planned.domains;
    unit.batch_size = planned.batch_size;
    unit.lr_scale = planned.lr_scale;
    unit.validation.set_unit(planned.name);
    std::vector<int> domains;
    for (int d : planned.domains) domains.push_back(job.finetune_domains[static_cast<size_t>(d)]);
    cursors_.emplace_back(planned.train_ids,
                          spec.seed() + 7919ULL * static_cast<uint64_t>(domains.front()),
                          planned.train_ranges);
    validation_ids_.push_back(
        data::ConcatSplitParts(job.splits, domains, data::SplitPart::kValidation));
    units_.push_back(std::move(unit));
  }
  CheckpointStoreOptions store;
  store.dir = CheckpointDirOf(spec);
  store.keep_last = std::max(1, spec.checkpoint().keep_last());
  checkpoints_ = std::make_unique<CheckpointStore>(store);
  AdvancePosition(0, proto::PhaseCommand());
  if (spec.checkpoint().resume()) IAK_RETURN_IF_ERROR(Resume());
  return Status::Ok();
}

Status Trainer::Resume() {
  const proto::JobSpec& spec = options_.spec;
  const auto began = SteadyClock::now();
  StatusOr<LoadedCheckpoint> loaded = checkpoints_->LoadLatest();
  if (!loaded.ok() && loaded.status().code() == StatusCode::kNotFound) {
    LOG(WARNING) << options_.name << ": --resume: no checkpoint in " << CheckpointDirOf(spec)
                 << "; starting from the beginning";
    return Status::Ok();
  }
  IAK_RETURN_IF_ERROR(loaded.status().WithContext(options_.name + " --resume"));
  for (const auto& [path, why] : loaded->refused) {
    LOG(WARNING) << options_.name << ": --resume refused " << path << ": " << why;
  }
  const Checkpoint& c = loaded->checkpoint;
  if (c.phase_index < 0 || c.phase_index > spec.phases_size() || c.step < 0 ||
      (c.phase_index < spec.phases_size() && c.step > spec.phases(c.phase_index).steps())) {
    return FailedPreconditionError(loaded->path + ": phase " + std::to_string(c.phase_index) +
                                   " step " + std::to_string(c.step) +
                                   " is not a position of this job's " +
                                   std::to_string(spec.phases_size()) + "-phase plan" +
                                   kResumeFix);
  }
  if (c.domains.size() != units_.size()) {
    return FailedPreconditionError(loaded->path + " holds " + std::to_string(c.domains.size()) +
                                   " domain(s), this job trains " +
                                   std::to_string(units_.size()) + kResumeFix);
  }
  for (size_t u = 0; u < units_.size(); ++u) {
    const DomainCheckpoint& dc = c.domains[u];
    if (dc.domain != units_[u].name) {
      return FailedPreconditionError(loaded->path + " holds domain '" + dc.domain +
                                     "' where this job trains '" + units_[u].name + "'" +
                                     kResumeFix);
    }
    IAK_RETURN_IF_ERROR(cursors_[u].Seek(dc.cursor).WithContext(loaded->path + " domain " +
                                                               dc.domain + kResumeFix));
  }
  int64_t global = c.step;
  for (int i = 0; i < c.phase_index; ++i) global += spec.phases(i).steps();
  position_.set_phase_index(c.phase_index);
  position_.set_phase_step(c.step);
  position_.set_global_step(global);
  AdvancePosition(0, proto::PhaseCommand());
  last_checkpoint_step_ = global;
  last_validation_step_ = global;
  resumed_ = true;
  resumed_global_step_ = global;
  resumed_from_ = loaded->path;
  LOG(INFO) << "progress: " << options_.name << " resumed from " << loaded->path << " at phase "
            << c.phase_index << " step " << c.step << " (global step " << global
            << (c.membership_epoch > 0
                    ? ", written in membership epoch " + std::to_string(c.membership_epoch)
                    : std::string())
            << ") in " << FormatFixed(MsSince(began), 1) << " ms";
  pending_restore_ = std::make_unique<LoadedCheckpoint>(std::move(*loaded));
  // Progress counts the steps the checkpoint holds as done.
  if (counters_.steps_done != nullptr) counters_.steps_done->store(global);
  return Status::Ok();
}

void Trainer::AdvancePosition(int64_t steps, const proto::PhaseCommand& command) {
  position_.set_phase_step(position_.phase_step() + steps);
  position_.set_global_step(position_.global_step() + steps);
  if (steps > 0 && position_.phase_step() >= command.steps()) {
    position_.set_phase_index(position_.phase_index() + 1);
    position_.set_phase_step(0);
  }
  position_.clear_cursors();
  for (const data::GlobalCursor& cursor : cursors_) {
    proto::DomainCursor* c = position_.add_cursors();
    c->set_epoch(cursor.cursor().epoch);
    c->set_position(static_cast<int64_t>(cursor.cursor().position));
  }
}

Status Trainer::Run(const std::atomic<bool>& stop) {
  IAK_RETURN_IF_ERROR(Setup());
  SegmentReport report;
  report.position = position_;
  report.resumed = resumed_;
  for (;;) {
    if (stop.load()) return CancelledError(options_.name + " stopped by the user");
    IAK_ASSIGN_OR_RETURN(Segment segment, membership_->Next(report));
    report = SegmentReport();
    report.first = false;
    if (segment.action == Segment::Action::kLeave) {
      left_ = true;
      position_ = segment.position;
      return Status::Ok();
    }
    if (segment.action == Segment::Action::kFinish) return Finish(segment);
    if (!prepared_) IAK_RETURN_IF_ERROR(PrepareFirstSegment(segment));
    if (segment.restore) IAK_RETURN_IF_ERROR(LoadState(sync_state_));
    // The membership's position is where every member stands: take its
    // cursors (an elastic job's are the committed ones).
    position_ = segment.position;
    if (position_.cursors_size() == static_cast<int>(cursors_.size())) {
      for (size_t u = 0; u < cursors_.size(); ++u) {
        data::BatchCursor c;
        c.epoch = position_.cursors(static_cast<int>(u)).epoch();
        c.position = static_cast<size_t>(position_.cursors(static_cast<int>(u)).position());
        IAK_RETURN_IF_ERROR(cursors_[u].Seek(c).WithContext(options_.name + " domain " +
                                                           units_[u].name));
      }
    }
    AdvancePosition(0, segment.command);
    report.position = position_;
    if (segment.broadcast_state) {
      Status exchanged = ExchangeState(segment);
      if (!exchanged.ok()) {
        if (!membership_->recovers_from_failures()) return exchanged;
        report.failure = exchanged.ToString();
        continue;
      }
    }
    if (membership_->recovers_from_failures()) sync_state_ = SaveState();
    if (!segment.commits_each_step && segment.rank == 0) {
      IAK_RETURN_IF_ERROR(MaybeCheckpoint(segment.membership_epoch));
    }
    collective_failed_ = false;
    const proto::JobPosition start = position_;
    Status trained = TrainSegment(segment, stop, &report);
    if (!trained.ok()) {
      if (!collective_failed_ || !membership_->recovers_from_failures()) return trained;
      // The group rolls back to where this segment began.
      LOG(WARNING) << options_.name << ": " << trained << "; reporting it at the sync point";
      report.failure = trained.ToString();
      report.position = start;
    }
  }
}

Status Trainer::PrepareFirstSegment(const Segment& segment) {
  const proto::JobSpec& spec = options_.spec;
  const model::BaseModel& base = *inputs_->base;
  IAK_RETURN_IF_ERROR(rows_->Connect(segment.servers, segment.rank));
  const int threads =
      std::max(1, spec.compute_threads() > 0 ? spec.compute_threads() : options_.compute_threads);
  // The step splits each batch over its own threads; GEMMs inside them stay
  // single-threaded so the two levels do not oversubscribe the cores.
  if (threads > 1) model::SetBlasThreads(1);
  int max_batch = 1;
  for (const TrainedUnit& unit : units_) max_batch = std::max(max_batch, unit.batch_size);
  if (IsAdapterMethod(spec.method())) {
    IAK_ASSIGN_OR_RETURN(engine_, MakeAdapterStepEngine(spec, base, threads, max_batch));
  } else if (spec.frozen_precision() == "bf16" && spec.method() != "frozen") {
    LOG(WARNING) << options_.name << ": frozen_precision \"bf16\" applies to the bottom below "
                 << "adapters on h; method " << spec.method() << " trains in fp32";
  }
  const int width = PrefixWidth(spec, base.config());
  if (width > 0 && (engine_ == nullptr || engine_->supports_prefix_cache())) {
    IAK_ASSIGN_OR_RETURN(cache_, MakeFrozenPrefixCache(spec, width,
                                                       inputs_->job.num_sample_ids(),
                                                       segment.rank));
  }
  ModelEnvironment env;
  env.spec = &spec;
  env.inputs = inputs_;
  env.rows = rows_;
  env.engine = engine_.get();
  env.cache = cache_.get();
  env.plan = &plan_;
  for (size_t u = 0; u < units_.size(); ++u) {
    const int domain =
        inputs_->job.finetune_domains[static_cast<size_t>(units_[u].domains.front())];
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<DomainModel> model,
                         MakeDomainModel(env, static_cast<int>(u), domain));
    models_.push_back(std::move(model));
  }
  if (pending_restore_ != nullptr) {
    const LoadedCheckpoint& loaded = *pending_restore_;
    for (size_t u = 0; u < units_.size(); ++u) {
      const DomainCheckpoint& dc = loaded.checkpoint.domains[u];
      const std::string where = loaded.path + " domain " + dc.domain;
      IAK_RETURN_IF_ERROR(models_[u]->SetParams(dc.params).WithContext(where + kResumeFix));
      IAK_RETURN_IF_ERROR(models_[u]->SetOptimizerState(dc.adam_state).WithContext(where));
      units_[u].validation = dc.validation;
      units_[u].validation.set_unit(units_[u].name);
      units_[u].steps = dc.steps;
      units_[u].samples = dc.samples;
    }
    pending_restore_.reset();
  }
  if (segment.rank == 0 && plan_.enabled) {
    for (const DomainPlanEntry& e : plan_.plan.domains) {
      LOG(INFO) << "progress: domain plan: " << e.name << ": " << DomainModeName(e.mode)
                << ", batch " << e.batch_size << ", lr x" << e.lr_scale << " (" << e.reason
                << ")";
    }
  }
  prepared_ = true;
  return Status::Ok();
}

std::vector<int> Trainer::ActiveUnits() const {
  std::vector<int> active;
  for (size_t u = 0; u < units_.size(); ++u) {
    if (models_[u]->frozen()) continue;
    if (validation_.enabled && units_[u].validation.stopped()) continue;
    active.push_back(static_cast<int>(u));
  }
  return active;
}

PhaseSettings Trainer::SettingsFor(const proto::PhaseCommand& command, int unit,
                                   int group_size) const {
  PhaseSettings settings;
  settings.phase = command.phase() == proto::PHASE_MATCHING ? model::IakPhase::kMatching
                                                           : model::IakPhase::kCompression;
  settings.beta = command.beta();
  const double scale = units_[static_cast<size_t>(unit)].lr_scale;
  settings.learning_rate = scale == 1.0 ? command.learning_rate()
                                        : static_cast<float>(command.learning_rate() * scale);
  settings.group_size = group_size;
  return settings;
}

Status Trainer::TrainSegment(const Segment& segment, const std::atomic<bool>& stop,
                             SegmentReport* report) {
  const proto::JobSpec& spec = options_.spec;
  const proto::PhaseCommand& command = segment.command;
  int64_t remaining =
      std::min<int64_t>(segment.max_steps, command.steps() - position_.phase_step());
  if (segment.rank == 0 && position_.phase_step() == 0 && remaining > 0) {
    LOG(INFO) << "progress: phase " << PhaseName(command.phase()) << ": " << command.steps()
              << " steps, beta " << command.beta() << ", lr " << command.learning_rate()
              << ", " << units_.size() << " domain unit(s), " << segment.size << " worker(s)";
  }
  // The base's evaluation, before the first step.
  if (validation_.enabled) {
    for (size_t u = 0; u < units_.size(); ++u) {
      if (!models_[u]->frozen() && !units_[u].validation.evaluated()) {
        IAK_RETURN_IF_ERROR(Validate(segment));
        break;
      }
    }
  }
  const int every_n = spec.checkpoint().every_n_steps();
  while (remaining > 0) {
    const int64_t g = position_.global_step();
    int64_t chunk = remaining;
    if (validation_.enabled) chunk = std::min<int64_t>(chunk, validation_.every_n_steps - g % validation_.every_n_steps);
    if (segment.commits_each_step && every_n > 0) chunk = std::min<int64_t>(chunk, every_n - g % every_n);
    int64_t done = 0;
    Status trained = TrainChunk(segment, chunk, stop, &done);
    report->steps_done += done;
    IAK_RETURN_IF_ERROR(trained);
    AdvancePosition(chunk, command);
    remaining -= chunk;
    const int64_t now = position_.global_step();
    const bool plan_done = position_.phase_index() >= spec.phases_size();
    if (validation_.enabled && now != last_validation_step_ &&
        (now % validation_.every_n_steps == 0 || plan_done)) {
      IAK_RETURN_IF_ERROR(Validate(segment));
    }
    if (segment.commits_each_step && segment.rank == 0) {
      IAK_RETURN_IF_ERROR(MaybeCheckpoint(segment.membership_epoch));
    }
    report->position = position_;
  }
  // A phase with no steps (left) ends here too.
  if (position_.phase_step() >= command.steps() &&
      position_.phase_index() == segment.position.phase_index()) {
    position_.set_phase_index(position_.phase_index() + 1);
    position_.set_phase_step(0);
  }
  report->position = position_;
  return Status::Ok();
}

Status Trainer::TrainChunk(const Segment& segment, int64_t steps, const std::atomic<bool>& stop,
                           int64_t* done) {
  const std::vector<int> active = ActiveUnits();
  if (active.empty()) {  // every unit frozen or stopped: the steps pass
    *done = steps;
    return Status::Ok();
  }
  const proto::JobSpec& spec = options_.spec;
  const model::BaseModel& base = *inputs_->base;
  const data::Dataset& dataset = inputs_->job.dataset;
  const int rank = segment.rank;
  const int size = segment.size;
  const int64_t first = position_.global_step();
  const bool pooled = models_.front()->wants_pooled_rows();
  BatchPipelineOptions options;
  options.input_dim = base.config().input_dim();
  options.embedding_dim = base.config().embedding_dim;
  options.h_dim = cache_ != nullptr ? cache_->width() : base.config().h_dim();
  const bool noise = IsAdapterMethod(spec.method()) && !spec.iak().plain_adapter();
  options.latent_dim = noise ? spec.iak().latent_dim() : 0;
  options.noise_seed = spec.seed() * 31 + static_cast<uint64_t>(rank);
  options.first_index = first;
  options.pool = pooled;
  options.stream = inputs_->job.stream.get();
  int64_t produced = 0;
  std::mutex epochs_mu;
  std::vector<int64_t> data_epochs;  // per produced batch; guarded by epochs_mu
  // A local frozen table: the dataset's keys resolved once, kept by the
  // row access across chunks and runs (the same numbers as per-batch pulls).
  ResolvedRows* resolved = pooled && options.stream == nullptr
                               ? rows_->ResolvedFrozen(&dataset, options.embedding_dim)
                               : nullptr;
  BatchPipeline pipeline(
      options, &dataset, rows_->frozen(), pooled ? cache_.get() : nullptr,
      [&](int* tag, std::vector<uint32_t>* ids) {
        if (produced >= steps) return false;
        const int u = active[static_cast<size_t>((first + produced) % static_cast<int64_t>(active.size()))];
        data::GlobalCursor& cursor = cursors_[static_cast<size_t>(u)];
        const size_t batch = static_cast<size_t>(units_[static_cast<size_t>(u)].batch_size);
        cursor.Slice(rank, size, batch, ids);
        if (options_.on_step_done) {
          std::lock_guard<std::mutex> lock(epochs_mu);
          data_epochs.push_back(cursor.cursor().epoch);
        }
        cursor.Advance(size, batch);
        *tag = u;
        ++produced;
        return true;
      },
      resolved);
  const Duration collective_timeout(spec.timeouts().collective_timeout_ms());
  const proto::PhaseCommand& command = segment.command;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t g = first + s;
    const std::string where = options_.name + " global step " + std::to_string(g);
    if (stop.load()) return CancelledError(options_.name + " stopped by the user");
    IAK_RETURN_IF_ERROR(membership_->CheckAlive(g));
    IAK_ASSIGN_OR_RETURN(PreparedBatch * batch, pipeline.Next());
    if (batch == nullptr) return InternalError(options_.name + ": the data pipeline ended early");
    const int u = batch->tag;
    DomainModel& model = *models_[static_cast<size_t>(u)];
    const PhaseSettings settings = SettingsFor(command, u, size);
    StatusOr<model::StepStats> stats = model.Gradients(*batch, settings);
    const int n = batch->size();
    StepRecord record;
    if (options_.on_step_done) record.ids = batch->ids;
    pipeline.Release(batch);
    if (!stats.ok()) return stats.status().WithContext(where);
    // A diverged run (learning rate too large) fails here, naming the unit
    // and step, instead of writing NaN parameters and "succeeding".
    IAK_RETURN_IF_ERROR(model::CheckFinite(stats->loss, "the training loss of " +
                                                            units_[static_cast<size_t>(u)].name)
                            .WithContext(where));
    Status averaged = segment.group->AllReduceMean(model.grads(), model.num_grads(),
                                                   Deadline::After(collective_timeout));
    if (!averaged.ok()) {
      collective_failed_ = true;
      return averaged.WithContext(where + " all-reduce");
    }
    IAK_RETURN_IF_ERROR(model.Step(settings).WithContext(where));
    if (model.pushes_rows()) {
      // Every rank's push is applied before any rank reads rows again
      // (Push returns once its servers applied it).
      float sync = 0.0f;
      Status barrier = segment.group->AllReduceMean(&sync, 1, Deadline::After(collective_timeout));
      if (!barrier.ok()) {
        collective_failed_ = true;
        return barrier.WithContext(where + " push barrier");
      }
    }
    TrainedUnit& unit = units_[static_cast<size_t>(u)];
    ++unit.steps;
    unit.samples += n;
    *done = s + 1;
    if (counters_.steps_done != nullptr) counters_.steps_done->fetch_add(1);
    if (counters_.samples_done != nullptr) counters_.samples_done->fetch_add(n);
    membership_->OnStepDone();
    if (options_.on_step_done) {
      record.global_step = g;
      record.unit = u;
      record.loss = stats->loss;
      {
        std::lock_guard<std::mutex> lock(epochs_mu);
        record.data_epoch = data_epochs[static_cast<size_t>(s)];
      }
      record.num_ids = cursors_[static_cast<size_t>(u)].num_ids();
      options_.on_step_done(record);
    }
    RecordProgress(command, position_.phase_step() + s + 1, g + 1, stats->loss, n, rank);
  }
  return Status::Ok();
}

void Trainer::RecordProgress(const proto::PhaseCommand& command, int64_t phase_step,
                             int64_t global_step, float loss, int samples, int rank) {
  window_loss_ += loss;
  window_samples_ += samples;
  ++window_steps_;
  if (options_.progress_every <= 0 ||
      (phase_step % options_.progress_every != 0 && phase_step != command.steps())) {
    return;
  }
  const double mean = window_loss_ / window_steps_;
  if (counters_.last_loss != nullptr) counters_.last_loss->store(mean);
  if (rank == 0) {
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - window_start_).count();
    LOG(INFO) << "progress: " << PhaseName(command.phase()) << " step " << phase_step << "/"
              << command.steps() << " (global step " << global_step << ")  loss " << mean << "  "
              << static_cast<int64_t>(window_samples_ / std::max(seconds, 1e-9))
              << " samples/s per worker";
  }
  window_loss_ = 0;
  window_steps_ = 0;
  window_samples_ = 0;
  window_start_ = SteadyClock::now();
}

Status Trainer::Validate(const Segment& segment) {
  const int64_t g = position_.global_step();
  const Duration timeout(options_.spec.timeouts().collective_timeout_ms());
  for (size_t u = 0; u < units_.size(); ++u) {
    proto::UnitValidation& record = units_[u].validation;
    if (models_[u]->frozen() || record.stopped()) continue;
    StatusOr<proto::ValidationPoint> point =
        EvaluateShared(models_[u].get(), inputs_->job.dataset, validation_ids_[u],
                       segment.group, Deadline::After(timeout));
    if (!point.ok()) {
      collective_failed_ = true;
      return point.status().WithContext(options_.name + " validation of " + units_[u].name);
    }
    point->set_global_step(g);
    const bool was_stopped = record.stopped();
    IAK_RETURN_IF_ERROR(RecordPoint(validation_, *point, models_[u].get(), &record));
    if (segment.rank == 0) {
      LOG(INFO) << "progress: validation " << units_[u].name << " at global step " << g
                << ": auc " << FormatFixed(point->auc(), 4) << ", logloss " << FormatFixed(point->logloss(), 4)
                << " (best " << FormatFixed(record.best_auc(), 4) << " at global step "
                << record.best_step() << (record.best_step() == 0 ? ", the base" : "") << ")"
                << (record.stopped() && !was_stopped ? "; stopped: no gain in " +
                                                           std::to_string(record.bad_evals()) +
                                                           " evaluations"
                                                     : "");
    }
  }
  last_validation_step_ = g;
  if (counters_.validation != nullptr) {
    std::vector<proto::UnitValidation> records;
    for (const TrainedUnit& unit : units_) {
      records.push_back(unit.validation);
      records.back().clear_best_params();  // the figures, not the weights
    }
    counters_.validation->Publish(std::move(records));
  }
  return Status::Ok();
}

Status Trainer::MaybeCheckpoint(int64_t membership_epoch) {
  const proto::JobSpec& spec = options_.spec;
  const int every_n = spec.checkpoint().every_n_steps();
  const int64_t g = position_.global_step();
  if (!options_.write_checkpoints || g <= last_checkpoint_step_ || models_.empty()) {
    return Status::Ok();
  }
  const bool phase_end = position_.phase_step() == 0 && position_.phase_index() > 0;
  const int64_t last = std::max<int64_t>(last_checkpoint_step_, 0);
  if (!phase_end && !(every_n > 0 && g / every_n > last / every_n)) return Status::Ok();
  const auto began = SteadyClock::now();
  std::error_code made;  // CheckpointStore makes only the last level
  std::filesystem::create_directories(CheckpointDirOf(spec), made);
  if (made) {
    return IoError(options_.name + ": cannot create checkpoint directory " +
                   CheckpointDirOf(spec) + ": " + made.message() +
                   "; set checkpoint.directory to a writable directory");
  }
  Checkpoint c;
  c.job_name = spec.name();
  c.membership_epoch = membership_epoch;
  c.phase_index = position_.phase_index();
  c.step = position_.phase_step();
  for (size_t u = 0; u < units_.size(); ++u) {
    DomainCheckpoint dc;
    dc.domain = units_[u].name;
    dc.params = models_[u]->Params();
    dc.adam_state = models_[u]->OptimizerState();
    dc.cursor = cursors_[u].cursor();
    dc.validation = units_[u].validation;
    dc.steps = units_[u].steps;
    dc.samples = units_[u].samples;
    c.domains.push_back(std::move(dc));
  }
  StatusOr<std::string> saved = checkpoints_->Save(c);
  if (!saved.ok()) {
    return saved.status().WithContext(
        options_.name + " checkpoint (set checkpoint.directory to a writable directory)");
  }
  last_checkpoint_step_ = g;
  LOG(INFO) << "progress: checkpoint " << *saved << " at global step " << g
            << " (membership epoch " << membership_epoch << ") in " << FormatFixed(MsSince(began), 1)
            << " ms";
  return Status::Ok();
}

std::string Trainer::SaveState() const {
  proto::TrainerState state;
  for (size_t u = 0; u < units_.size(); ++u) {
    proto::TrainerUnitState* s = state.add_units();
    s->set_unit(units_[u].name);
    const std::vector<float> params = models_[u]->Params();
    s->mutable_params()->Assign(params.begin(), params.end());
    s->set_optimizer(models_[u]->OptimizerState());
    *s->mutable_validation() = units_[u].validation;
    s->set_steps(units_[u].steps);
  }
  return state.SerializeAsString();
}

Status Trainer::LoadState(const std::string& bytes) {
  proto::TrainerState state;
  if (!state.ParseFromString(bytes) || state.units_size() != static_cast<int>(units_.size())) {
    return DataLossError(options_.name + ": a trainer state that does not parse or fit this job");
  }
  for (size_t u = 0; u < units_.size(); ++u) {
    const proto::TrainerUnitState& s = state.units(static_cast<int>(u));
    if (s.unit() != units_[u].name) {
      return FailedPreconditionError(options_.name + ": state of unit '" + s.unit() +
                                     "' where this job trains '" + units_[u].name + "'");
    }
    IAK_RETURN_IF_ERROR(models_[u]->SetParams({s.params().begin(), s.params().end()}));
    IAK_RETURN_IF_ERROR(models_[u]->SetOptimizerState(s.optimizer()));
    units_[u].validation = s.validation();
    units_[u].steps = s.steps();
  }
  return Status::Ok();
}

Status Trainer::ExchangeState(const Segment& segment) {
  // Rank 0's state to the joiners: sums where every other rank contributes
  // zeros. First the length (in two 16-bit halves, exact in float), then
  // every byte as one float (0..255), so the sums are exact whatever the bits.
  collective::Communicator* group = segment.group;
  const Deadline deadline =
      Deadline::After(Duration(options_.spec.timeouts().collective_timeout_ms()));
  std::string bytes = group->rank() == 0 ? SaveState() : std::string();
  float length[2] = {0, 0};
  if (group->rank() == 0) {
    length[0] = static_cast<float>(bytes.size() & 0xffff);
    length[1] = static_cast<float>(bytes.size() >> 16);
  }
  IAK_RETURN_IF_ERROR(group->AllReduceSum(length, 2, deadline).WithContext("state length"));
  const size_t n = static_cast<size_t>(std::lround(length[0])) +
                   (static_cast<size_t>(std::lround(length[1])) << 16);
  std::vector<float> buffer(n, 0.0f);
  if (group->rank() == 0) {
    for (size_t i = 0; i < n; ++i) buffer[i] = static_cast<uint8_t>(bytes[i]);
  }
  IAK_RETURN_IF_ERROR(group->AllReduceSum(buffer.data(), n, deadline).WithContext("state"));
  if (!segment.receive_state) return Status::Ok();
  bytes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    bytes[i] = static_cast<char>(static_cast<uint8_t>(std::lround(buffer[i])));
  }
  return LoadState(bytes).WithContext("state received from rank 0");
}

Status Trainer::Finish(const Segment& segment) {
  const proto::JobSpec& spec = options_.spec;
  position_ = segment.position;
  if (!prepared_) {  // nothing was trained here (every phase had passed)
    IAK_RETURN_IF_ERROR(PrepareFirstSegment(segment));
  }
  if (segment.rank == 0) IAK_RETURN_IF_ERROR(MaybeCheckpoint(segment.membership_epoch));
  // Each unit ends with its best validation point (the base when nothing
  // beat it).
  for (size_t u = 0; u < units_.size(); ++u) {
    const proto::UnitValidation& record = units_[u].validation;
    if (!validation_.enabled || models_[u]->frozen() || !SelectsBest(record)) continue;
    IAK_RETURN_IF_ERROR(models_[u]->SetParams({record.best_params().begin(),
                                               record.best_params().end()}));
    Status rows = models_[u]->RestoreBest();
    if (!rows.ok()) {
      LOG(WARNING) << options_.name << ": " << units_[u].name << ": " << rows.message()
                   << "; the rows stay as trained last";
    }
    if (segment.rank == 0) {
      LOG(INFO) << "progress: " << units_[u].name << ": "
                << (KeptBase(record) ? "kept base" : "best at global step " +
                                                         std::to_string(record.best_step()))
                << ", validation AUC " << FormatFixed(record.best_auc(), 4) << " (base "
                << FormatFixed(record.base_auc(), 4) << ")";
    }
  }
  if (cache_ != nullptr) {
    const FrozenPrefixCacheStats cs = cache_->stats();
    LOG(INFO) << options_.name << ": frozen-prefix cache: " << cs.memory_rows
              << " rows in memory, " << cs.disk_rows << " on disk, " << cs.hits
              << " samples served without a pull";
  }
  if (segment.rank != 0 || !options_.write_results) return Status::Ok();
  for (size_t u = 0; u < units_.size(); ++u) {
    IAK_RETURN_IF_ERROR(models_[u]->Write(spec.output_dir(), units_[u].name));
  }
  IAK_RETURN_IF_ERROR(WriteTrainingResults(spec, plan_, units_));
  LOG(INFO) << "progress: wrote " << units_.size() << " " << spec.method() << " result(s) to "
            << spec.output_dir() << " after " << position_.global_step() << " global steps";
  return Status::Ok();
}

}  // namespace iak::worker
