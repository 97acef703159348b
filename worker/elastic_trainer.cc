#include "worker/elastic_trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <utility>

#include "collective/group_factory.h"
#include "collective/rendezvous_store.h"
#include "common/build_config.h"
#include "data/global_cursor.h"
#include "model/blas_threads.h"
#include "ps/ps_client.h"
#include "worker/adapter_restore.h"
#include "worker/adapter_store.h"
#include "worker/checkpoint.h"
#include "worker/training_setup.h"

namespace iak::worker {
namespace {

using SteadyClock = std::chrono::steady_clock;

double MsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

// The adapters and Adam states at the last sync point.
struct Snapshot {
  std::vector<std::vector<float>> params;
  std::vector<std::string> adam;
};

Snapshot Take(const std::vector<model::IakModule>& adapters,
              const std::vector<model::Adam>& optimizers) {
  Snapshot s;
  for (size_t d = 0; d < adapters.size(); ++d) {
    s.params.push_back(adapters[d].params());
    s.adam.push_back(optimizers[d].Serialize());
  }
  return s;
}

Status Restore(const Snapshot& s, std::vector<model::IakModule>* adapters,
               std::vector<model::Adam>* optimizers) {
  for (size_t d = 0; d < adapters->size(); ++d) {
    std::copy(s.params[d].begin(), s.params[d].end(), (*adapters)[d].mutable_params());
    IAK_RETURN_IF_ERROR((*optimizers)[d].Deserialize(s.adam[d]));
  }
  return Status::Ok();
}

// Rank 0's adapters and Adam states to the joiners of a new group: a sum
// all-reduce where every other rank contributes zeros. Each byte travels as
// one float (0..255), so the sum is exact whatever the bit patterns.
Status ExchangeState(collective::Communicator* comm, bool receive, Deadline deadline,
                     std::vector<model::IakModule>* adapters,
                     std::vector<model::Adam>* optimizers) {
  const Snapshot mine = Take(*adapters, *optimizers);
  std::string bytes;
  for (size_t d = 0; d < adapters->size(); ++d) {
    bytes.append(reinterpret_cast<const char*>(mine.params[d].data()),
                 mine.params[d].size() * sizeof(float));
    bytes.append(mine.adam[d]);
  }
  std::vector<float> buffer(bytes.size(), 0.0f);
  if (comm->rank() == 0) {
    for (size_t i = 0; i < bytes.size(); ++i) buffer[i] = static_cast<uint8_t>(bytes[i]);
  }
  IAK_RETURN_IF_ERROR(comm->AllReduceSum(buffer.data(), buffer.size(), deadline));
  if (!receive) return Status::Ok();
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(static_cast<uint8_t>(std::lround(buffer[i])));
  }
  Snapshot received;
  size_t at = 0;
  for (size_t d = 0; d < adapters->size(); ++d) {
    std::vector<float> params(mine.params[d].size());
    std::memcpy(params.data(), bytes.data() + at, params.size() * sizeof(float));
    at += params.size() * sizeof(float);
    received.params.push_back(std::move(params));
    received.adam.push_back(bytes.substr(at, mine.adam[d].size()));
    at += mine.adam[d].size();
  }
  return Restore(received, adapters, optimizers).WithContext("state received from rank 0");
}

std::string CheckpointDirFor(const proto::JobSpec& spec) {
  return spec.checkpoint().directory().empty() ? spec.output_dir() + "/checkpoints"
                                               : spec.checkpoint().directory();
}

data::BatchCursor CursorOf(const proto::JobPosition& position, int d) {
  data::BatchCursor c;
  if (d < position.cursors_size()) {
    c.epoch = position.cursors(d).epoch();
    c.position = static_cast<size_t>(position.cursors(d).position());
  }
  return c;
}

// An elastic checkpoint into the adapters, optimizers and global cursors;
// returns the job position it stands for. Refuses, naming the file, one
// written by a static job (membership epoch 0: its cursors are rank 0's
// shard cursors, not global ones) or for another plan, domain set or
// adapter shape.
StatusOr<proto::JobPosition> RestoreElasticCheckpoint(
    const LoadedCheckpoint& loaded, const proto::JobSpec& spec,
    const std::vector<std::string>& names, std::vector<model::IakModule>* adapters,
    std::vector<model::Adam>* optimizers, std::vector<data::GlobalCursor>* cursors) {
  const Checkpoint& c = loaded.checkpoint;
  if (c.membership_epoch < 1) {
    return FailedPreconditionError(
        loaded.path + " was written by a static (non-elastic) job: its data cursors are rank "
        "0's own shard's, not the job's global ones; resume it without elastic.enabled, or "
        "remove the directory");
  }
  if (c.phase_index < 0 || c.phase_index > spec.phases_size() ||
      (c.phase_index < spec.phases_size() && c.step > spec.phases(c.phase_index).steps()) ||
      c.step < 0) {
    return FailedPreconditionError(loaded.path + ": phase " + std::to_string(c.phase_index) +
                                   " step " + std::to_string(c.step) +
                                   " is not a position of this job's " +
                                   std::to_string(spec.phases_size()) + "-phase plan" + kResumeFix);
  }
  IAK_RETURN_IF_ERROR(RestoreAdapters(loaded, names, adapters, optimizers));
  proto::JobPosition position;
  position.set_phase_index(c.phase_index);
  position.set_phase_step(c.step);
  int64_t global = c.step;
  for (int i = 0; i < c.phase_index; ++i) global += spec.phases(i).steps();
  position.set_global_step(global);
  for (size_t d = 0; d < names.size(); ++d) {
    const DomainCheckpoint& dc = c.domains[d];
    IAK_RETURN_IF_ERROR((*cursors)[d].Seek(dc.cursor).WithContext(loaded.path + " domain " +
                                                                  dc.domain + kResumeFix));
    proto::DomainCursor* cursor = position.add_cursors();
    cursor->set_epoch(dc.cursor.epoch);
    cursor->set_position(static_cast<int64_t>(dc.cursor.position));
  }
  return position;
}

}  // namespace

ElasticTrainer::ElasticTrainer(ElasticTrainerOptions options, net::Transport* transport,
                               scheduler::SchedulerClient* scheduler, ElasticCounters counters)
    : options_(std::move(options)),
      transport_(transport),
      scheduler_(scheduler),
      counters_(counters) {}

#if !IAK_HAVE_GLOO
Status ElasticTrainer::Run(const std::atomic<bool>& stop) {
  (void)stop;
  return FailedPreconditionError(
      options_.name + ": elastic jobs need Gloo, and this build has none; install "
      "libgloo-dev (tools/install_deps.sh) and rebuild with -DIAK_WITH_GLOO=ON");
}
#else
Status ElasticTrainer::Run(const std::atomic<bool>& stop) {
  const proto::JobSpec& spec = options_.spec;
  const std::string& name = options_.name;
  const Duration sync_timeout(spec.timeouts().barrier_timeout_ms());
  const Duration collective_timeout(spec.timeouts().collective_timeout_ms());
  const size_t batch = static_cast<size_t>(spec.batch_size());

  IAK_ASSIGN_OR_RETURN(TrainingInputs inputs, LoadTrainingInputs(spec));
  const data::Dataset& dataset = inputs.job.dataset;
  const model::BaseModel& base = *inputs.base;
  std::vector<model::Adam> optimizers;
  InitAdapters(spec, inputs, &adapters_, &domain_names_, &optimizers);
  const int num_domains = static_cast<int>(adapters_.size());
  std::vector<data::GlobalCursor> cursors;
  for (int domain : inputs.job.finetune_domains) {
    cursors.emplace_back(inputs.job.splits[domain].train,
                         spec.seed() + 7919ULL * static_cast<uint64_t>(domain));
  }
  collective::RpcStoreOptions store_options;
  store_options.self_name = name;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<collective::RpcStore> store,
                       collective::RpcStore::Connect(transport_, options_.scheduler_address,
                                                     store_options));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<FrozenPrefixCache> cache,
                       MakeFrozenPrefixCache(spec, base.config().h_dim(), dataset.size(),
                                             scheduler_->node_id()));
  const int threads = std::max(1, options_.compute_threads);
  if (threads > 1) model::SetBlasThreads(1);
  model::ParallelFineTuneStep step(threads);
  BatchPipelineOptions pipeline_options;
  pipeline_options.input_dim = base.config().input_dim();
  pipeline_options.embedding_dim = base.config().embedding_dim;
  pipeline_options.h_dim = base.config().h_dim();
  const model::IakConfig iak_config = IakConfigFor(spec.iak(), base.config().h_dim());
  pipeline_options.latent_dim = iak_config.plain_adapter ? 0 : iak_config.latent_dim;

  std::unique_ptr<ps::PsClient> ps;
  std::unique_ptr<PsRowSource> source;
  std::unique_ptr<collective::Communicator> group;
  int64_t group_epoch = 0;
  // Checkpoints: rank 0 of the current epoch writes them at committed sync
  // points (every reply's position is one); with resume, every worker starts
  // from the latest intact one and reports its position at the first sync.
  CheckpointStoreOptions checkpoint_options;
  checkpoint_options.dir = CheckpointDirFor(spec);
  checkpoint_options.keep_last = std::max(1, spec.checkpoint().keep_last());
  CheckpointStore checkpoints(checkpoint_options);
  const int every_n = spec.checkpoint().every_n_steps() == 0 ? 100
                                                             : spec.checkpoint().every_n_steps();
  int64_t last_saved_global = 0;
  proto::SyncRequest request;  // the first: joining, at no position (or the checkpoint's)
  if (spec.checkpoint().resume()) {
    const auto began = SteadyClock::now();
    StatusOr<LoadedCheckpoint> loaded = checkpoints.LoadLatest();
    if (!loaded.ok() && loaded.status().code() == StatusCode::kNotFound) {
      LOG(WARNING) << name << ": --resume: no checkpoint in " << checkpoint_options.dir
                   << "; starting from the beginning";
    } else {
      IAK_RETURN_IF_ERROR(loaded.status().WithContext(name + " --resume"));
      for (const auto& [path, why] : loaded->refused) {
        LOG(WARNING) << name << ": --resume refused " << path << ": " << why;
      }
      IAK_ASSIGN_OR_RETURN(proto::JobPosition position,
                           RestoreElasticCheckpoint(*loaded, spec, domain_names_, &adapters_,
                                                    &optimizers, &cursors));
      *request.mutable_position() = position;
      last_saved_global = position.global_step();
      resumed_global_step_ = position.global_step();
      resumed_from_ = loaded->path;
      LOG(INFO) << "progress: " << name << " resumed from " << loaded->path << " at phase "
                << position.phase_index() << " step " << position.phase_step()
                << " (global step " << position.global_step() << ", written in membership epoch "
                << loaded->checkpoint.membership_epoch << ") in " << std::fixed
                << MsSince(began) << " ms";
    }
  }
  // Due at the first sync point at or past every every_n global steps, and
  // at each phase end (a segment never crosses one, so a phase end is a
  // position at step 0 of the next phase).
  auto checkpoint_due = [&](const proto::JobPosition& p) {
    const int64_t g = p.global_step();
    if (g <= last_saved_global) return false;
    if (p.phase_step() == 0 && p.phase_index() > 0) return true;
    return every_n > 0 && g / every_n > last_saved_global / every_n;
  };
  auto save_checkpoint = [&](const proto::JobPosition& p, int64_t epoch) -> Status {
    const auto began = SteadyClock::now();
    std::error_code made;  // CheckpointStore makes only the last level
    std::filesystem::create_directories(checkpoint_options.dir, made);
    if (made) {
      return IoError(name + ": cannot create checkpoint directory " + checkpoint_options.dir +
                     ": " + made.message() + "; set checkpoint.directory to a writable one");
    }
    Checkpoint c;
    c.job_name = spec.name();
    c.membership_epoch = epoch;
    c.phase_index = p.phase_index();
    c.step = p.phase_step();
    for (int d = 0; d < num_domains; ++d) {
      DomainCheckpoint dc;
      dc.domain = domain_names_[d];
      dc.params = adapters_[d].params();
      dc.adam_state = optimizers[d].Serialize();
      dc.cursor = CursorOf(p, d);
      c.domains.push_back(std::move(dc));
    }
    StatusOr<std::string> saved = checkpoints.Save(c);
    if (!saved.ok()) {
      return saved.status().WithContext(
          name + " checkpoint (set checkpoint.directory to a writable directory)");
    }
    const std::string& path = *saved;
    last_saved_global = p.global_step();
    LOG(INFO) << "progress: " << name << " checkpoint " << path << " at global step "
              << p.global_step() << " (membership epoch " << epoch << ") in " << std::fixed
              << MsSince(began) << " ms";
    return Status::Ok();
  };
  Snapshot snapshot = Take(adapters_, optimizers);  // the initial (or resumed) state
  bool failed = false;
  SteadyClock::time_point failed_at;
  int64_t lost = 0;
  bool awaiting_new_epoch = false;
  std::vector<float> h;
  for (;;) {
    if (stop.load()) return CancelledError(name + " stopped by the user");
    if (scheduler_->shutdown_requested()) {
      return UnavailableError(name + ": the scheduler ended the job: " +
                              scheduler_->shutdown_reason());
    }
    if (counters_.first_sync_sent != nullptr) counters_.first_sync_sent->store(true);
    IAK_ASSIGN_OR_RETURN(proto::SyncResponse reply,
                         scheduler_->Sync(request, Deadline::After(sync_timeout)));
    if (awaiting_new_epoch) {
      awaiting_new_epoch = false;
      recoveries_.back().detect_ms = MsSince(failed_at);
      recoveries_.back().members = reply.size();
      LOG(INFO) << "progress: " << name << ": epoch " << reply.membership_epoch() << " with "
                << reply.size() << " member(s) " << std::fixed << recoveries_.back().detect_ms
                << " ms after the failed collective";
    }
    final_global_step_ = reply.position().global_step();
    if (reply.action() == proto::SyncResponse::ACTION_LEAVE) {
      left_ = true;
      LOG(INFO) << "progress: " << name << " leaves the job (scaled down) at global step "
                << final_global_step_;
      return Status::Ok();
    }
    if (reply.action() == proto::SyncResponse::ACTION_FINISH) {
      if (reply.rank() == 0) {
        if (checkpoint_due(reply.position())) {  // the last phase's end
          IAK_RETURN_IF_ERROR(save_checkpoint(reply.position(), reply.membership_epoch()));
        }
        const std::string dir = spec.output_dir() + "/adapters";
        for (int d = 0; d < num_domains; ++d) {
          IAK_RETURN_IF_ERROR(SaveAdapter(dir, domain_names_[d], adapters_[d]));
        }
        LOG(INFO) << "progress: wrote " << num_domains << " adapter(s) to " << dir
                  << " after " << final_global_step_ << " global steps";
      }
      return Status::Ok();
    }
    if (reply.action() != proto::SyncResponse::ACTION_TRAIN) {
      return InternalError(name + ": the scheduler's sync reply has no action");
    }
    const int rank = reply.rank();
    const int size = reply.size();
    if (ps == nullptr) {
      IAK_ASSIGN_OR_RETURN(ps::PsClientOptions ps_options,
                           PsOptionsFor(spec, inputs, reply.servers(), rank, name));
      ps = std::make_unique<ps::PsClient>(ps_options, transport_);
      IAK_RETURN_IF_ERROR(ps->Connect());
      source = std::make_unique<PsRowSource>(ps.get(), counters_.pull_monitor);
    }
    if (reply.restore()) IAK_RETURN_IF_ERROR(Restore(snapshot, &adapters_, &optimizers));
    proto::JobPosition position = reply.position();
    for (int d = 0; d < num_domains; ++d) {
      IAK_RETURN_IF_ERROR(cursors[d].Seek(CursorOf(position, d))
                              .WithContext(name + " domain " + domain_names_[d]));
    }
    request.Clear();
    request.set_membership_epoch(reply.membership_epoch());
    *request.mutable_position() = position;
    // A new epoch: a new group through the scheduler's store.
    if (group == nullptr || group_epoch != reply.membership_epoch()) {
      group.reset();
      // Gloo for CPU workers; NCCL for GPU workers, each on its device 0
      // (the launcher hands a worker its GPUs through CUDA_VISIBLE_DEVICES).
      collective::GroupOptions group_options;
      group_options.backend = spec.launcher().gpus_per_worker() > 0 ? "nccl" : "gloo";
      group_options.gloo_hostname = options_.gloo_hostname;
      group_options.device = 0;
      auto formed = collective::FormGroup(group_options, store.get(), rank, size,
                                          reply.store_prefix(),
                                          Deadline::After(collective_timeout));
      if (formed.status().code() == StatusCode::kFailedPrecondition) {
        return formed.status().WithContext(name);  // the backend cannot run here
      }
      if (!formed.ok()) {
        LOG(WARNING) << name << ": forming the group of epoch " << reply.membership_epoch()
                     << " failed: " << formed.status();
        request.set_failure(formed.status().ToString());
        continue;
      }
      group = std::move(formed).value();
      group_epoch = reply.membership_epoch();
      if (rank == 0 || reply.receive_state()) {
        LOG(INFO) << "progress: " << name << " in epoch " << group_epoch << " as rank " << rank
                  << " of " << size << " at global step " << position.global_step();
      }
    }
    if (reply.broadcast_state()) {
      Status exchanged = ExchangeState(group.get(), reply.receive_state(),
                                       Deadline::After(collective_timeout), &adapters_,
                                       &optimizers);
      if (!exchanged.ok()) {
        request.set_failure(exchanged.ToString());
        group.reset();
        continue;
      }
    }
    snapshot = Take(adapters_, optimizers);
    // The reply's position is committed (every member agreed on it) and this
    // state stands there: rank 0 checkpoints it when one is due.
    if (rank == 0 && checkpoint_due(position)) {
      IAK_RETURN_IF_ERROR(save_checkpoint(position, reply.membership_epoch()));
    }

    // One segment: up to sync_every_steps steps, never across a phase end.
    const int phase_index = position.phase_index();
    if (phase_index >= reply.plan_size()) {
      return InternalError(name + ": told to train past the plan's last phase");
    }
    const proto::PhaseCommand& command = reply.plan(phase_index);
    const int64_t segment = std::min<int64_t>(std::max(1, reply.sync_every_steps()),
                                              command.steps() - position.phase_step());
    const int64_t first_global = position.global_step();
    pipeline_options.noise_seed =
        spec.seed() * 31 + 1000003ULL * static_cast<uint64_t>(first_global) +
        static_cast<uint64_t>(rank);
    int64_t produced = 0;
    std::mutex epochs_mu;
    std::vector<int64_t> data_epochs;  // per produced batch; guarded by epochs_mu
    auto pipeline = std::make_unique<BatchPipeline>(
        pipeline_options, &dataset, source.get(), cache.get(),
        [&](int* tag, std::vector<uint32_t>* ids) {
          if (produced >= segment) return false;
          const int d = static_cast<int>((first_global + produced) % num_domains);
          cursors[d].Slice(rank, size, batch, ids);
          if (options_.on_step_done) {
            std::lock_guard<std::mutex> lock(epochs_mu);
            data_epochs.push_back(cursors[d].cursor().epoch);
          }
          cursors[d].Advance(size, batch);
          *tag = d;
          ++produced;
          return true;
        });
    const model::IakPhase phase = command.phase() == proto::PHASE_MATCHING
                                      ? model::IakPhase::kMatching
                                      : model::IakPhase::kCompression;
    Status collective;
    int64_t done = 0;
    double loss = 0;
    for (; done < segment; ++done) {
      const int64_t global = first_global + done;
      if (stop.load()) return CancelledError(name + " stopped by the user");
      if (options_.abandon_at_step >= 0 && global >= options_.abandon_at_step) {
        LOG(WARNING) << name << ": fault injection: abandoning the job at global step "
                     << global << " (no heartbeats, group connections closed, no deregister)";
        pipeline.reset();
        scheduler_->Abandon();
        group.reset();
        abandoned_ = true;
        return CancelledError(name + " abandoned the job at global step " +
                            std::to_string(global) + " (fault injection)");
      }
      IAK_ASSIGN_OR_RETURN(PreparedBatch * prepared, pipeline->Next());
      if (prepared == nullptr) return InternalError(name + ": the data pipeline ended early");
      const int d = prepared->tag;
      const int n = prepared->size();
      std::vector<uint32_t> trained_ids;
      if (options_.on_step_done) trained_ids = prepared->ids;
      StatusOr<model::StepStats> stats =
          ComputeAdapterGrads(base, &step, cache.get(), dataset, *prepared, phase,
                              command.beta(), &adapters_[d], &h);
      pipeline->Release(prepared);
      if (!stats.ok()) {
        return stats.status().WithContext(name + " global step " + std::to_string(global));
      }
      collective = AverageAndStep(group.get(), command, Deadline::After(collective_timeout),
                                  &adapters_[d], &optimizers[d]);
      if (!collective.ok()) break;
      if (options_.on_step_done) {
        int64_t data_epoch = 0;
        {
          std::lock_guard<std::mutex> lock(epochs_mu);
          data_epoch = data_epochs[static_cast<size_t>(done)];
        }
        options_.on_step_done(global, d, data_epoch, cursors[d].num_ids(), trained_ids);
      }
      if (failed) {  // the first step after a failure: recovered
        failed = false;
        recoveries_.back().recover_ms = MsSince(failed_at);
        LOG(INFO) << "progress: " << name << " recovered: training again " << std::fixed
                  << recoveries_.back().recover_ms << " ms after the failed collective, "
                  << size << " member(s), " << recoveries_.back().steps_lost
                  << " step(s) redone";
      }
      counters_.steps_done->fetch_add(1);
      counters_.samples_done->fetch_add(n);
      loss += stats->loss;
    }
    pipeline.reset();
    if (!collective.ok()) {
      LOG(WARNING) << name << ": collective failed at global step " << first_global + done
                   << " (epoch " << group_epoch << "): " << collective
                   << "; reporting it at the sync point";
      if (!failed) {
        failed = true;
        failed_at = SteadyClock::now();
        lost = done;
      }
      request.set_failure(collective.ToString());
      group.reset();
      // The next reply rolls back to the sync point; the loop's sync records
      // when it came.
      ElasticRecovery recovery;
      recovery.steps_lost = lost;
      recoveries_.push_back(recovery);
      awaiting_new_epoch = true;
      continue;
    }
    if (counters_.last_loss != nullptr && segment > 0) counters_.last_loss->store(loss / segment);
    position.set_phase_step(position.phase_step() + segment);
    position.set_global_step(first_global + segment);
    if (position.phase_step() >= command.steps()) {
      position.set_phase_index(phase_index + 1);
      position.set_phase_step(0);
    }
    position.clear_cursors();
    for (int d = 0; d < num_domains; ++d) {
      proto::DomainCursor* c = position.add_cursors();
      c->set_epoch(cursors[d].cursor().epoch);
      c->set_position(static_cast<int64_t>(cursors[d].cursor().position));
    }
    if (rank == 0 && options_.progress_every > 0 &&
        (first_global / options_.progress_every !=
         position.global_step() / options_.progress_every)) {
      LOG(INFO) << "progress: " << PhaseName(command.phase()) << " global step "
                << position.global_step() << ", loss " << loss / std::max<int64_t>(segment, 1)
                << ", " << size << " worker(s) in epoch " << group_epoch;
    }
    *request.mutable_position() = position;
  }
}

#endif  // IAK_HAVE_GLOO

}  // namespace iak::worker
