#include "worker/worker.h"

#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include "data/batcher.h"
#include "data/split.h"
#include "embedding/model_directory.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/blas_threads.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "model/parallel_step.h"
#include "ps/ps_client.h"
#include "scheduler/scheduler_client.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_restore.h"
#include "worker/adapter_store.h"
#include "worker/batch_pipeline.h"
#include "worker/checkpoint.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/job_data.h"
#include "worker/row_source.h"
#include "worker/training_setup.h"
#include "worker/worker_registration.h"

namespace iak::worker {
namespace {

// Pulls through `inner`, except while `skipping`: then every row is zero and
// nothing goes over the network. A resumed worker replays the batches before
// its checkpoint through the pipeline (so its batchers and noise generator
// reach exactly the state they had) without pulling their rows.
class SkippingRowSource : public RowSource {
 public:
  explicit SkippingRowSource(RowSource* inner) : inner_(inner) {}
  void set_skipping(bool skipping) { skipping_ = skipping; }  // pipeline thread
  Status Fetch(const uint64_t* keys, size_t n, float* rows_out) override {
    if (!skipping_) return inner_->Fetch(keys, n, rows_out);
    (void)keys;
    std::fill(rows_out, rows_out + n * static_cast<size_t>(dim_), 0.0f);
    return Status::Ok();
  }
  void set_dim(int dim) { dim_ = dim; }

 private:
  RowSource* inner_;
  int dim_ = 0;
  bool skipping_ = false;
};

bool SameCursors(const std::vector<data::BatchCursor>& a, const std::vector<data::BatchCursor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].epoch != b[i].epoch || a[i].position != b[i].position) return false;
  }
  return true;
}

std::string CheckpointDir(const proto::JobSpec& spec) {
  return spec.checkpoint().directory().empty() ? spec.output_dir() + "/checkpoints"
                                               : spec.checkpoint().directory();
}

}  // namespace

Worker::Worker(WorkerOptions options, net::Transport* transport,
               collective::Communicator* communicator)
    : options_(std::move(options)), transport_(transport), communicator_(communicator) {
  if (options_.name.empty()) {
    if (communicator_ != nullptr) {
      options_.name = "worker-" + std::to_string(communicator_->rank());
    } else if (options_.rank_hint >= 0) {
      options_.name = "worker-" + std::to_string(options_.rank_hint);
    } else {  // an elastic worker without a rank hint: its process names it
      options_.name = "worker-pid" + std::to_string(::getpid());
    }
  }
}

Status Worker::Run(const std::atomic<bool>& stop) {
  scheduler::SchedulerClientOptions sched_options;
  sched_options.scheduler_address = options_.scheduler_address;
  sched_options.name = options_.name;
  scheduler::SchedulerClient sched(transport_, sched_options);
  const bool elastic = options_.spec.elastic().enabled();
  if (!elastic && communicator_ == nullptr) {
    return InvalidArgumentError(options_.name + ": a static job needs a communicator");
  }
  IAK_RETURN_IF_ERROR(RegisterWorker(
      &sched, elastic ? options_.rank_hint : communicator_->rank(),
      {&steps_done_, &samples_done_, &last_loss_, &pull_monitor_}));
  bool abandoned = false;
  Status trained = elastic ? TrainElastic(&sched, stop, &abandoned) : Train(&sched, stop);
  if (abandoned) return trained;  // a simulated crash: no goodbye
  // An elastic job the scheduler already ended (below its minimum): it may
  // have exited, so a goodbye would only wait for its deadline.
  if (elastic && !trained.ok() && sched.shutdown_requested()) return trained;
  // Leaving with the error fails the job at once, naming the cause, instead
  // of letting the others wait for this worker until a timeout.
  Status left = sched.Deregister(trained.ok() ? "" : trained.ToString());
  if (!trained.ok()) return trained;
  if (!left.ok()) LOG(WARNING) << options_.name << ": " << left;
  return Status::Ok();
}

Status Worker::TrainElastic(scheduler::SchedulerClient* scheduler,
                            const std::atomic<bool>& stop, bool* abandoned) {
  ElasticTrainerOptions options;
  options.spec = options_.spec;
  options.name = options_.name;
  options.scheduler_address = options_.scheduler_address;
  options.compute_threads = options_.compute_threads;
  options.progress_every = options_.progress_every;
  options.gloo_hostname = options_.gloo_hostname;
  options.abandon_at_step = options_.abandon_at_step;
  ElasticCounters counters;
  counters.steps_done = &steps_done_;
  counters.samples_done = &samples_done_;
  counters.last_loss = &last_loss_;
  counters.pull_monitor = &pull_monitor_;
  counters.first_sync_sent = &first_sync_sent_;
  ElasticTrainer trainer(std::move(options), transport_, scheduler, counters);
  Status trained = trainer.Run(stop);
  adapters_ = std::move(trainer.adapters());
  domain_names_ = trainer.domain_names();
  final_global_step_ = trainer.final_global_step();
  left_by_scale_ = trainer.left();
  recoveries_ = trainer.recoveries();
  *abandoned = trainer.abandoned();
  return trained;
}

Status Worker::Train(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop) {
  scheduler::SchedulerClient& sched = *scheduler;
  const proto::JobSpec& spec = options_.spec;
  const proto::TimeoutSpec& timeouts = spec.timeouts();
  const int rank = communicator_->rank();
  const int world = communicator_->size();

  IAK_ASSIGN_OR_RETURN(TrainingInputs inputs, LoadTrainingInputs(spec));
  const JobData& job = inputs.job;
  const model::BaseModel& base = *inputs.base;
  const int dim = base.config().embedding_dim;

  const Duration barrier_timeout(timeouts.barrier_timeout_ms());
  IAK_ASSIGN_OR_RETURN(proto::BarrierResponse start,
                       sched.Barrier("start", Deadline::After(barrier_timeout)));

  IAK_ASSIGN_OR_RETURN(ps::PsClientOptions ps_options,
                       PsOptionsFor(spec, inputs, start.servers(), rank, options_.name));
  ps::PsClient ps(ps_options, transport_);
  IAK_RETURN_IF_ERROR(ps.Connect());

  // The domain plan (JobSpec.domain_plan): which adapters the job trains,
  // each with its batch size and learning-rate scale. Every rank computes it
  // from the same global counts, so all train the same adapters in lockstep.
  IAK_ASSIGN_OR_RETURN(plan_, PlanJobDomains(spec, job));
  if (rank == 0 && plan_.enabled) {
    for (const DomainPlanEntry& e : plan_.plan.domains) {
      LOG(INFO) << "progress: domain plan: " << e.name << ": " << DomainModeName(e.mode)
                << ", batch " << e.batch_size << ", lr x" << e.lr_scale << " (" << e.reason
                << ")";
    }
  }
  // One adapter and one optimizer per trained adapter (a domain's own, or the
  // cold domains' shared one), initialised the same way on every rank so that
  // averaged gradients keep them identical.
  const int num_domains = static_cast<int>(plan_.adapters.size());
  const model::IakConfig iak_config = IakConfigFor(spec.iak(), base.config().h_dim());
  std::vector<model::Adam> optimizers;
  InitPlannedAdapters(spec, inputs, plan_, &adapters_, &domain_names_, &optimizers);
  adapter_steps_.assign(static_cast<size_t>(num_domains), 0);
  adapter_samples_.assign(static_cast<size_t>(num_domains), 0);
  std::vector<std::unique_ptr<data::Batcher>> batchers;
  for (int i = 0; i < num_domains; ++i) {
    const PlannedAdapter& planned = plan_.adapters[static_cast<size_t>(i)];
    const int domain = job.finetune_domains[static_cast<size_t>(planned.domains.front())];
    data::BatcherOptions batch_options;
    batch_options.batch_size = static_cast<size_t>(planned.batch_size);
    batch_options.seed = spec.seed() + 7919ULL * static_cast<uint64_t>(domain) + rank;
    batchers.push_back(std::make_unique<data::Batcher>(
        data::ShardIds(planned.train_ids, rank, world), batch_options));
  }

  // Checkpoints (docs/elastic.md): rank 0 writes them; on resume every rank
  // loads the same latest intact one (the directory must be shared).
  const proto::CheckpointSpec& ckpt_spec = spec.checkpoint();
  CheckpointStoreOptions store_options;
  store_options.dir = CheckpointDir(spec);
  store_options.keep_last = std::max(1, ckpt_spec.keep_last());
  CheckpointStore checkpoints(store_options);
  int32_t resume_phase = 0;     // phase index to continue in
  int64_t resume_step = 0;      // steps already done in that phase
  std::vector<data::BatchCursor> resume_cursors;  // rank 0's, from the file
  std::string resume_path;
  const auto resume_start = std::chrono::steady_clock::now();
  if (ckpt_spec.resume()) {
    StatusOr<LoadedCheckpoint> loaded = checkpoints.LoadLatest();
    if (!loaded.ok() && loaded.status().code() == StatusCode::kNotFound) {
      LOG(WARNING) << options_.name << ": --resume: no checkpoint in " << store_options.dir
                   << "; starting from the beginning";
    } else {
      IAK_RETURN_IF_ERROR(loaded.status().WithContext(options_.name + " --resume"));
      IAK_RETURN_IF_ERROR(RestoreAdapters(*loaded, domain_names_, &adapters_, &optimizers));
      resume_phase = loaded->checkpoint.phase_index;
      resume_step = loaded->checkpoint.step;
      resume_path = loaded->path;
      for (const DomainCheckpoint& dc : loaded->checkpoint.domains) {
        resume_cursors.push_back(dc.cursor);
      }
      for (const auto& [path, why] : loaded->refused) {
        LOG(WARNING) << options_.name << ": --resume refused " << path << ": " << why;
      }
    }
  }

  const data::Dataset& dataset = job.dataset;
  const int threads = std::max(1, options_.compute_threads);
  // The step splits each batch over its own threads; GEMMs inside them stay
  // single-threaded so the two levels do not oversubscribe the cores.
  if (threads > 1) model::SetBlasThreads(1);
  model::ParallelFineTuneStep step(threads);
  PsRowSource ps_source(&ps, &pull_monitor_);
  SkippingRowSource source(&ps_source);
  source.set_dim(dim);
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<FrozenPrefixCache> cache,
                       MakeFrozenPrefixCache(spec, base.config().h_dim(), dataset.size(), rank));

  // The pipeline thread takes the batches in step order: step g trains the
  // domain g mod D (every rank the same domain at the same step). Next() is
  // false once at each epoch's end; the second call starts the next epoch
  // (and is false only for a shard with no samples at all).
  int64_t planned_step = 0;
  int64_t skip_until = 0;  // global steps before this are replayed, not trained
  // Where each domain's batcher stands after producing step g, so the trainer
  // knows the cursors of the steps it has finished (the pipeline runs ahead).
  std::mutex cursor_mu;
  std::deque<std::pair<int64_t, data::BatchCursor>> produced_cursors;  // guarded by cursor_mu
  std::vector<data::BatchCursor> trained_cursors(num_domains);
  auto advance_cursors = [&](int64_t done_step) {
    std::lock_guard<std::mutex> lock(cursor_mu);
    while (!produced_cursors.empty() && produced_cursors.front().first <= done_step) {
      const int64_t g = produced_cursors.front().first;
      trained_cursors[static_cast<size_t>(g % num_domains)] = produced_cursors.front().second;
      produced_cursors.pop_front();
    }
  };
  BatchPipelineOptions pipeline_options;
  pipeline_options.input_dim = base.config().input_dim();
  pipeline_options.embedding_dim = dim;
  pipeline_options.h_dim = base.config().h_dim();
  pipeline_options.latent_dim = iak_config.plain_adapter ? 0 : iak_config.latent_dim;
  pipeline_options.noise_seed = spec.seed() * 31 + static_cast<uint64_t>(rank);
  // Made when the first phase that trains starts, once skip_until is known.
  std::unique_ptr<BatchPipeline> pipeline;
  auto make_pipeline = [&] {
    pipeline = std::make_unique<BatchPipeline>(
        pipeline_options, &dataset, &source, cache.get(),
        [&](int* tag, std::vector<uint32_t>* ids) {
          const int64_t g = planned_step++;
          const int d = static_cast<int>(g % num_domains);
          data::Batcher& batcher = *batchers[d];
          if (!batcher.Next(ids) && !batcher.Next(ids)) ids->clear();
          *tag = d;
          source.set_skipping(g < skip_until);
          std::lock_guard<std::mutex> lock(cursor_mu);
          produced_cursors.emplace_back(g, batcher.cursor());
          return true;
        });
  };
  int64_t consumed_batches = 0;
  bool resume_checked = false;
  std::pair<int32_t, int64_t> last_saved{-1, -1};
  if (!resume_path.empty()) last_saved = {resume_phase, resume_step};
  // Rank 0 writes (phase, steps done in it): every adapter, its Adam state and
  // its cursor; the other ranks' cursors follow from the same global step.
  auto save_checkpoint = [&](int32_t phase_index, int64_t phase_step) -> Status {
    if (rank != 0 || last_saved == std::make_pair(phase_index, phase_step)) return Status::Ok();
    const auto begin = std::chrono::steady_clock::now();
    std::error_code made;
    std::filesystem::create_directories(store_options.dir, made);
    if (made) {
      return IoError("cannot create checkpoint directory " + store_options.dir + ": " +
                     made.message() + "; set checkpoint.directory to a writable directory");
    }
    Checkpoint c;
    c.job_name = spec.name();
    c.phase_index = phase_index;
    c.step = phase_step;
    for (int d = 0; d < num_domains; ++d) {
      DomainCheckpoint dc;
      dc.domain = domain_names_[d];
      dc.params = adapters_[d].params();
      dc.adam_state = optimizers[d].Serialize();
      dc.cursor = trained_cursors[d];
      c.domains.push_back(std::move(dc));
    }
    IAK_ASSIGN_OR_RETURN(std::string path, checkpoints.Save(c));
    last_saved = {phase_index, phase_step};
    LOG(INFO) << "progress: checkpoint " << path << " in "
              << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                           begin).count()
              << " ms";
    return Status::Ok();
  };
  const int every_n = ckpt_spec.every_n_steps();
  std::vector<float> h;
  const Duration collective_timeout(timeouts.collective_timeout_ms());

  proto::PhaseCommand command = start.command();
  int barrier_index = 0;
  int64_t global_step = 0;
  while (command.phase() != proto::PHASE_FINISHED) {
    if (rank == 0) {
      LOG(INFO) << "progress: phase " << PhaseName(command.phase()) << ": " << command.steps()
                << " steps, beta " << command.beta() << ", lr " << command.learning_rate()
                << ", " << num_domains << " domain adapter(s), " << world << " worker(s)";
    }
    const bool matching = command.phase() == proto::PHASE_MATCHING;
    const model::IakPhase phase =
        matching ? model::IakPhase::kMatching : model::IakPhase::kCompression;
    double window_loss = 0;
    int window_steps = 0;
    auto window_start = std::chrono::steady_clock::now();
    int64_t window_samples = 0;
    // Resuming: phases before the checkpoint's are skipped whole, its own
    // phase continues after the checkpoint's step.
    int64_t first_step = 0;
    if (num_domains == 0) {
      // Every domain is served by the base model (domain plan): nothing to train.
      first_step = command.steps();
      global_step -= first_step;  // the step count stays 0
    } else if (barrier_index < resume_phase) {
      first_step = command.steps();
    } else if (barrier_index == resume_phase) {
      first_step = std::min<int64_t>(resume_step, command.steps());
    }
    global_step += first_step;
    if (pipeline == nullptr && first_step < command.steps()) {
      skip_until = global_step;
      make_pipeline();
    }
    // Replay (without training) the batches of the steps the checkpoint
    // already holds.
    while (pipeline != nullptr && consumed_batches < global_step) {
      StatusOr<PreparedBatch*> skipped = pipeline->Next();
      if (!skipped.ok()) return skipped.status().WithContext(options_.name + " resume replay");
      if (*skipped == nullptr) return InternalError(options_.name + ": the data pipeline ended early");
      ++adapter_steps_[static_cast<size_t>((*skipped)->tag)];
      adapter_samples_[static_cast<size_t>((*skipped)->tag)] += (*skipped)->size();
      pipeline->Release(*skipped);
      advance_cursors(consumed_batches++);
    }
    if (first_step > 0) steps_done_.store(global_step);
    if (!resume_path.empty() && !resume_checked && pipeline != nullptr) {
      resume_checked = true;
      if (rank == 0 && !SameCursors(trained_cursors, resume_cursors)) {
        return FailedPreconditionError(
            resume_path + ": the data cursors after replaying " + std::to_string(global_step) +
            " steps differ from the checkpoint's: it was written for other data, batch size, "
            "seed or worker count; resume with the job spec that wrote it");
      }
      LOG(INFO) << "progress: " << options_.name << " resumed from " << resume_path
                << " at phase " << resume_phase << " step " << resume_step << " (global step "
                << global_step << ") in "
                << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             resume_start).count()
                << " ms";
    }
    for (int64_t s = first_step; s < command.steps(); ++s, ++global_step) {
      if (stop.load()) return CancelledError(options_.name + " stopped by the user");
      if (sched.shutdown_requested()) {
        return UnavailableError(options_.name + ": the scheduler ended the job: " +
                                sched.shutdown_reason());
      }
      StatusOr<PreparedBatch*> next = pipeline->Next();
      if (!next.ok()) {
        return next.status().WithContext(options_.name + " step " + std::to_string(s));
      }
      PreparedBatch* batch = *next;
      if (batch == nullptr) return InternalError(options_.name + ": the data pipeline ended early");
      const int d = batch->tag;
      CHECK_EQ(d, static_cast<int>(global_step % num_domains)) << "pipeline out of step";
      model::IakModule& adapter = adapters_[d];
      const int n = batch->size();
      StatusOr<model::StepStats> computed = ComputeAdapterGrads(
          base, &step, cache.get(), dataset, *batch, phase, command.beta(), &adapter, &h);
      if (!computed.ok()) {
        return computed.status().WithContext(options_.name + " step " + std::to_string(s));
      }
      const model::StepStats stats = *computed;
      ++adapter_steps_[static_cast<size_t>(d)];
      adapter_samples_[static_cast<size_t>(d)] += n;
      pipeline->Release(batch);
      advance_cursors(consumed_batches++);
      IAK_RETURN_IF_ERROR(AverageAndStep(communicator_, command,
                                         Deadline::After(collective_timeout), &adapter,
                                         &optimizers[d], plan_.adapters[d].lr_scale)
                              .WithContext(options_.name + " all-reduce"));
      steps_done_.fetch_add(1);
      samples_done_.fetch_add(n);
      if (every_n > 0 && (global_step + 1) % every_n == 0) {
        IAK_RETURN_IF_ERROR(save_checkpoint(barrier_index, s + 1)
                                .WithContext(options_.name + " checkpoint"));
      }
      window_loss += stats.loss;
      window_samples += n;
      ++window_steps;
      if (options_.progress_every > 0 &&
          ((s + 1) % options_.progress_every == 0 || s + 1 == command.steps())) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
        last_loss_.store(window_loss / window_steps);
        if (rank == 0) {
          LOG(INFO) << "progress: " << PhaseName(command.phase()) << " step " << (s + 1) << "/"
                    << command.steps() << "  loss " << window_loss / window_steps << "  "
                    << static_cast<int64_t>(window_samples / std::max(seconds, 1e-9))
                    << " samples/s per worker";
        }
        window_loss = 0;
        window_steps = 0;
        window_samples = 0;
        window_start = std::chrono::steady_clock::now();
      }
    }
    if (barrier_index >= resume_phase) {
      IAK_RETURN_IF_ERROR(save_checkpoint(barrier_index, command.steps())
                              .WithContext(options_.name + " checkpoint"));
    }
    ++barrier_index;
    IAK_ASSIGN_OR_RETURN(proto::BarrierResponse next,
                         sched.Barrier("phase-" + std::to_string(barrier_index),
                                       Deadline::After(barrier_timeout)));
    command = next.command();
  }

  if (cache != nullptr) {
    const FrozenPrefixCacheStats cs = cache->stats();
    LOG(INFO) << options_.name << ": frozen-prefix cache: " << cs.memory_rows << " rows in memory, "
              << cs.disk_rows << " on disk, " << cs.hits << " samples served without a pull";
  }
  if (rank == 0) {
    const std::string dir = spec.output_dir() + "/adapters";
    for (int i = 0; i < num_domains; ++i) {
      IAK_RETURN_IF_ERROR(SaveAdapter(dir, domain_names_[i], adapters_[i]));
    }
    IAK_RETURN_IF_ERROR(WriteAdapterPlan(dir));
    LOG(INFO) << "progress: wrote " << num_domains << " adapter(s) to " << dir;
  }
  return Status::Ok();
}

Status Worker::WriteAdapterPlan(const std::string& dir) const {
  std::vector<AdapterPlanRow> rows;
  for (size_t i = 0; i < plan_.plan.domains.size(); ++i) {
    const DomainPlanEntry& e = plan_.plan.domains[i];
    AdapterPlanRow r;
    r.domain = e.name;
    r.mode = DomainModeName(e.mode);
    r.reason = e.reason;
    const int a = plan_.adapter_of_domain[i];
    if (a >= 0) {
      const size_t at = static_cast<size_t>(a);
      r.adapter = domain_names_[at];
      r.batch_size = plan_.adapters[at].batch_size;
      r.lr_scale = plan_.adapters[at].lr_scale;
      r.steps = adapter_steps_[at];
      r.samples = adapter_samples_[at];
    }
    if (r.mode != "own") {
      // A domain served by the shared adapter or the base model has no file
      // of its own; one left by an earlier run in this directory would
      // mislead a reader that ignores the plan file.
      std::error_code ignored;
      std::filesystem::remove(AdapterPath(dir, e.name), ignored);
    }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) return Status::Ok();
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) return IoError("cannot create " + dir + ": " + made.message());
  return SaveAdapterPlan(dir, rows);
}

}  // namespace iak::worker
