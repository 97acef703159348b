#include "worker/method_worker.h"


#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <utility>

#include "common/file_util.h"
#include "data/batcher.h"
#include "data/split.h"
#include "embedding/model_directory.h"
#include "model/adam.h"
#include "model/dense_train_step.h"
#include "model/lora.h"
#include "model/row_gradients.h"
#include "ps/ps_client.h"
#include "worker/batch_pipeline.h"
#include "worker/job_data.h"
#include "worker/pulled_rows.h"
#include "worker/worker_registration.h"

namespace iak::worker {
namespace {

enum class Kind { kFrozen, kDense, kLora, kFull };

StatusOr<Kind> KindOf(const std::string& method) {
  if (method == "frozen") return Kind::kFrozen;
  if (method == "dense") return Kind::kDense;
  if (method == "lora") return Kind::kLora;
  if (method == "full") return Kind::kFull;
  return InvalidArgumentError("MethodWorker runs frozen, dense, lora and full, not '" + method +
                              "' (iak and plain run on worker/worker.h)");
}

// One fine-tuned domain's trainable model.
class DomainTrainer {
 public:
  virtual ~DomainTrainer() = default;
  // Gradients of the trainable values on pooled x (and dx when not null);
  // returns the mean loss.
  virtual float Gradients(const float* x, int n, const float* click, const float* conversion,
                          float* dx) = 0;
  virtual float* grads() = 0;
  virtual size_t num_params() const = 0;
  virtual void Step(float lr) = 0;
  virtual std::vector<float> Params() const = 0;
  // The dense model this domain scores with.
  virtual const model::BaseModel& Model() = 0;
};

// Dense-only (and the dense part of full): Adam on a copy of the base model.
class DenseTrainer : public DomainTrainer {
 public:
  explicit DenseTrainer(const model::BaseModel& base)
      : model_(base), adam_(base.num_params(), model::AdamOptions()) {}
  float Gradients(const float* x, int n, const float* click, const float* conversion,
                  float* dx) override {
    return step_.Run(&model_, x, n, click, conversion, dx);
  }
  float* grads() override { return model_.mutable_grads(); }
  size_t num_params() const override { return model_.num_params(); }
  void Step(float lr) override {
    adam_.set_lr(lr);
    adam_.Step(model_.mutable_params(), model_.grads().data());
  }
  std::vector<float> Params() const override { return model_.params(); }
  const model::BaseModel& Model() override { return model_; }

 private:
  model::BaseModel model_;
  model::Adam adam_;
  model::DenseTrainStep step_;
};

// LoRA on every dense layer, trained through the merged parameters.
class LoraTrainer : public DomainTrainer {
 public:
  LoraTrainer(const model::BaseModel& base, const model::LoraConfig& config, uint64_t seed)
      : base_(base), lora_(base.config(), config), merged_(base),
        adam_(lora_.num_params(), model::AdamOptions()) {
    lora_.Init(seed);
  }
  float Gradients(const float* x, int n, const float* click, const float* conversion,
                  float* dx) override {
    lora_.Merge(base_.params().data(), merged_.mutable_params());
    const float loss = step_.Run(&merged_, x, n, click, conversion, dx);
    lora_.ZeroGrads();
    lora_.Backward(merged_.grads().data());
    return loss;
  }
  float* grads() override { return lora_.mutable_grads(); }
  size_t num_params() const override { return lora_.num_params(); }
  void Step(float lr) override {
    adam_.set_lr(lr);
    adam_.Step(lora_.mutable_params(), lora_.grads().data());
  }
  std::vector<float> Params() const override { return lora_.params(); }
  const model::BaseModel& Model() override {
    lora_.Merge(base_.params().data(), merged_.mutable_params());
    return merged_;
  }

 private:
  const model::BaseModel& base_;
  model::LoraAdapter lora_;
  model::BaseModel merged_;
  model::Adam adam_;
  model::DenseTrainStep step_;
};

// The batch a step trains on, whichever way it was fetched.
struct StepBatch {
  int domain = 0;
  const uint32_t* ids = nullptr;
  int n = 0;
  const float* x = nullptr;
  const float* click = nullptr;
  const float* conversion = nullptr;  // null when the data has none
};

}  // namespace

bool IsMethodWorkerMethod(const std::string& method) { return KindOf(method).ok(); }

std::string MethodModelPath(const std::string& output_dir, const std::string& domain) {
  return output_dir + "/models/" + domain + ".dense";
}

StatusOr<model::BaseModel> LoadMethodModel(const std::string& output_dir,
                                           const std::string& domain) {
  const std::string path = MethodModelPath(output_dir, domain);
  std::string bytes;
  Status read = ReadFileToString(path, &bytes);
  if (!read.ok()) {
    return NotFoundError("no fine-tuned model for domain " + domain + " at " + path +
                         " (did the job finish?): " + read.message());
  }
  StatusOr<model::BaseModel> loaded = model::BaseModel::Deserialize(bytes);
  if (!loaded.ok()) return loaded.status().WithContext(path);
  return loaded;
}

MethodWorker::MethodWorker(WorkerOptions options, net::Transport* transport,
                           collective::Communicator* communicator)
    : options_(std::move(options)), transport_(transport), communicator_(communicator) {
  if (options_.name.empty()) options_.name = "worker-" + std::to_string(communicator_->rank());
}

Status MethodWorker::Run(const std::atomic<bool>& stop) {
  scheduler::SchedulerClientOptions sched_options;
  sched_options.scheduler_address = options_.scheduler_address;
  sched_options.name = options_.name;
  scheduler::SchedulerClient sched(transport_, sched_options);
  IAK_RETURN_IF_ERROR(RegisterWorker(&sched, communicator_->rank(),
                                     {&steps_done_, &samples_done_, &last_loss_, &pull_monitor_}));
  Status trained = Train(&sched, stop);
  // Leaving with the error fails the job at once, naming the cause.
  Status left = sched.Deregister(trained.ok() ? "" : trained.ToString());
  if (!trained.ok()) return trained;
  if (!left.ok()) LOG(WARNING) << options_.name << ": " << left;
  return Status::Ok();
}

Status MethodWorker::Train(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop) {
  scheduler::SchedulerClient& sched = *scheduler;
  const proto::JobSpec& spec = options_.spec;
  const proto::TimeoutSpec& timeouts = spec.timeouts();
  const int rank = communicator_->rank();
  const int world = communicator_->size();
  IAK_ASSIGN_OR_RETURN(const Kind kind, KindOf(spec.method()));
  if (spec.has_elastic() && spec.elastic().enabled()) {
    return FailedPreconditionError(
        "method \"" + spec.method() + "\" does not support elastic membership (elastic.enabled); "
        "only iak and plain do: turn elastic off or use one of them");
  }
  if (spec.checkpoint().resume() && rank == 0) {
    LOG(WARNING) << options_.name << ": method " << spec.method()
                 << " writes no checkpoints; --resume is ignored and the job starts afresh";
  }

  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(spec.data()));
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model_dir,
                       embedding::LoadModelDirectory(spec.model_dir()));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base, model::BaseModel::Deserialize(model_dir.dense_blob));
  const int dim = base.config().embedding_dim;
  if (base.config().num_fields != job.dataset.num_fields()) {
    return FailedPreconditionError(
        "the model in " + spec.model_dir() + " has " + std::to_string(base.config().num_fields) +
        " fields but the data has " + std::to_string(job.dataset.num_fields()) +
        "; pre-train a model for this data");
  }
  const int num_domains = static_cast<int>(job.finetune_domains.size());
  if (num_domains == 0) {
    return FailedPreconditionError("the job's data has no fine-tuned domain; check "
                                   "data.period_bounds and data.pretrain_periods");
  }
  if (kind == Kind::kFull && num_domains != 1) {
    return FailedPreconditionError(
        "method \"full\" trains the shared embedding rows on the parameter servers, so a job "
        "fine-tunes exactly one domain, but this job's data has " +
        std::to_string(num_domains) +
        " fine-tuned domains; run one job per domain (e.g. data.period_bounds ending at that "
        "domain's end), see docs/job_spec.md");
  }
  domain_names_.clear();
  for (int domain : job.finetune_domains) domain_names_.push_back(job.dataset.domain_names[domain]);

  const Duration barrier_timeout(timeouts.barrier_timeout_ms());
  IAK_ASSIGN_OR_RETURN(proto::BarrierResponse start,
                       sched.Barrier("start", Deadline::After(barrier_timeout)));
  proto::PhaseCommand command = start.command();
  int barrier_index = 0;
  auto next_phase = [&]() -> Status {
    ++barrier_index;
    IAK_ASSIGN_OR_RETURN(proto::BarrierResponse next,
                         sched.Barrier("phase-" + std::to_string(barrier_index),
                                       Deadline::After(barrier_timeout)));
    command = next.command();
    return Status::Ok();
  };

  if (kind == Kind::kFrozen) {
    // Nothing to train: follow the phases so the job ends like any other.
    trained_params_.assign(num_domains, {});
    while (command.phase() != proto::PHASE_FINISHED) IAK_RETURN_IF_ERROR(next_phase());
    if (rank == 0) {
      LOG(INFO) << "progress: method frozen: nothing trained; evaluation scores the base model";
    }
    return Status::Ok();
  }

  std::set<int> shards;
  for (const proto::ServerAddress& server : start.servers()) shards.insert(server.shard());
  if (static_cast<int>(shards.size()) != model_dir.manifest.num_shards()) {
    return FailedPreconditionError(
        "the job serves " + std::to_string(shards.size()) + " shard(s) but " +
        spec.model_dir() + " has " + std::to_string(model_dir.manifest.num_shards()) +
        "; set num_servers to the shard count");
  }
  ps::PsClientOptions ps_options;
  ps_options.servers.assign(start.servers().begin(), start.servers().end());
  ps_options.replica_offset = static_cast<uint64_t>(rank);
  // Full fine-tuning changes the rows on the servers after every step, so its
  // pulls must never be served from the row cache (which assumes frozen rows);
  // nor does this worker use the frozen-prefix cache (the bottom trains too).
  ps_options.cache_bytes = kind == Kind::kFull ? 0 : static_cast<uint64_t>(spec.row_cache_bytes());
  ps_options.snapshot_id = model_dir.manifest.snapshot_id();
  ps_options.dim = dim;
  ps_options.pull_timeout = Duration(timeouts.pull_timeout_ms());
  ps_options.name = options_.name;
  ps::PsClient ps(ps_options, transport_);
  IAK_RETURN_IF_ERROR(ps.Connect());

  // LoRA's rank and alpha (JobSpec.lora; defaults 4 and the rank).
  model::LoraConfig lora_config;
  if (spec.lora().rank() > 0) lora_config.rank = spec.lora().rank();
  lora_config.alpha = spec.lora().alpha() > 0 ? spec.lora().alpha()
                                              : static_cast<float>(lora_config.rank);
  if (kind == Kind::kLora) IAK_RETURN_IF_ERROR(model::ValidateLoraConfig(lora_config));

  // One model and one batcher per fine-tuned domain, initialised the same on
  // every rank so that averaged gradients keep them identical.
  std::vector<std::unique_ptr<DomainTrainer>> trainers;
  std::vector<std::unique_ptr<data::Batcher>> batchers;
  for (int i = 0; i < num_domains; ++i) {
    const int domain = job.finetune_domains[i];
    if (kind == Kind::kLora) {
      trainers.push_back(std::make_unique<LoraTrainer>(
          base, lora_config, spec.seed() + 1000003ULL * static_cast<uint64_t>(domain)));
    } else {
      trainers.push_back(std::make_unique<DenseTrainer>(base));
    }
    data::BatcherOptions batch_options;
    batch_options.batch_size = static_cast<size_t>(spec.batch_size());
    batch_options.seed = spec.seed() + 7919ULL * static_cast<uint64_t>(domain) + rank;
    batchers.push_back(std::make_unique<data::Batcher>(
        data::ShardIds(job.splits[domain].train, rank, world), batch_options));
  }

  const data::Dataset& dataset = job.dataset;
  // Step g trains domain g mod D on every rank. Next() is false once at each
  // epoch's end; the second call starts the next epoch.
  int64_t planned_step = 0;
  auto next_ids = [&](int* tag, std::vector<uint32_t>* ids) {
    const int d = static_cast<int>(planned_step++ % num_domains);
    data::Batcher& batcher = *batchers[d];
    if (!batcher.Next(ids) && !batcher.Next(ids)) ids->clear();
    *tag = d;
    return true;
  };
  // dense/lora: rows are frozen, so the pipeline pulls ahead of the compute.
  // full: each step pulls after the previous step's push (no read-ahead).
  PsRowSource ps_source(&ps, &pull_monitor_);
  std::unique_ptr<BatchPipeline> pipeline;
  if (kind != Kind::kFull) {
    BatchPipelineOptions pipeline_options;
    pipeline_options.input_dim = base.config().input_dim();
    pipeline_options.embedding_dim = dim;
    pipeline_options.h_dim = base.config().h_dim();
    pipeline_options.latent_dim = 0;
    pipeline = std::make_unique<BatchPipeline>(pipeline_options, &dataset, &ps_source, nullptr,
                                               next_ids);
  }
  PulledRows pulled(dim);
  std::vector<uint32_t> ids;
  std::vector<float> x, click, conversion, dx;
  model::RowGradients row_grads(dim);

  const Duration collective_timeout(timeouts.collective_timeout_ms());
  int64_t global_step = 0;
  while (command.phase() != proto::PHASE_FINISHED) {
    if (rank == 0) {
      LOG(INFO) << "progress: method " << spec.method() << ": " << command.steps()
                << " steps, lr " << command.learning_rate() << ", " << num_domains
                << " domain model(s), " << world << " worker(s)";
    }
    double window_loss = 0;
    int window_steps = 0;
    auto window_start = std::chrono::steady_clock::now();
    int64_t window_samples = 0;
    for (int64_t s = 0; s < command.steps(); ++s, ++global_step) {
      if (stop.load()) return CancelledError(options_.name + " stopped by the user");
      if (sched.shutdown_requested()) {
        return UnavailableError(options_.name + ": the scheduler ended the job: " +
                                sched.shutdown_reason());
      }
      const std::string where = options_.name + " step " + std::to_string(global_step);
      StepBatch batch;
      PreparedBatch* prepared = nullptr;
      if (pipeline != nullptr) {
        StatusOr<PreparedBatch*> next = pipeline->Next();
        if (!next.ok()) return next.status().WithContext(where);
        prepared = *next;
        if (prepared == nullptr) return InternalError(options_.name + ": the data pipeline ended early");
        batch.domain = prepared->tag;
        batch.ids = prepared->ids.data();
        batch.n = prepared->size();
        batch.x = prepared->x.data();
        batch.click = prepared->click.data();
        batch.conversion = prepared->conversion.empty() ? nullptr : prepared->conversion.data();
      } else {
        next_ids(&batch.domain, &ids);
        batch.ids = ids.data();
        batch.n = static_cast<int>(ids.size());
        x.resize(static_cast<size_t>(batch.n) * base.config().input_dim());
        click.resize(batch.n);
        conversion.resize(batch.n);
        pulled.CollectKeys(dataset, batch.ids, batch.n);
        if (!pulled.keys().empty()) {
          IAK_RETURN_IF_ERROR(
              ps_source.Fetch(pulled.keys().data(), pulled.keys().size(), pulled.rows())
                  .WithContext(where + " pull"));
        }
        pulled.Pool(dataset, batch.ids, batch.n, x.data());
        for (int r = 0; r < batch.n; ++r) {
          click[r] = dataset.click[batch.ids[r]];
          conversion[r] = dataset.has_conversion() ? dataset.conversion[batch.ids[r]] : 0.0f;
        }
        batch.x = x.data();
        batch.click = click.data();
        batch.conversion = dataset.has_conversion() ? conversion.data() : nullptr;
      }
      CHECK_EQ(batch.domain, static_cast<int>(global_step % num_domains)) << "out of step";
      DomainTrainer& trainer = *trainers[batch.domain];
      const bool want_dx = kind == Kind::kFull;
      if (want_dx) dx.resize(static_cast<size_t>(batch.n) * base.config().input_dim());
      // An empty batch (a rank with no samples of this domain) contributes
      // zero gradients but still joins the all-reduce.
      const float loss = trainer.Gradients(batch.x, batch.n, batch.click, batch.conversion,
                                           want_dx ? dx.data() : nullptr);
      if (want_dx) row_grads.Collect(dataset, batch.ids, batch.n, dx.data());
      if (prepared != nullptr) pipeline->Release(prepared);
      IAK_RETURN_IF_ERROR(communicator_
                              ->AllReduceMean(trainer.grads(), trainer.num_params(),
                                              Deadline::After(collective_timeout))
                              .WithContext(options_.name + " all-reduce"));
      trainer.Step(command.learning_rate());
      if (kind == Kind::kFull) {
        // Each rank pushes its rows' gradients of its own mean loss times
        // 1/world, so that the servers' per-key sum over the ranks is the
        // gradient of the all-ranks mean loss (the dense all-reduce's
        // scaling). A key two ranks both touched gets one optimizer step per
        // push (docs/job_spec.md).
        row_grads.Scale(1.0f / static_cast<float>(world));
        ps::PushStats push_stats;
        IAK_RETURN_IF_ERROR(ps.Push(row_grads.keys().data(), row_grads.keys().size(),
                                    row_grads.grads().data(), &push_stats)
                                .WithContext(where + " push"));
        rows_pushed_.fetch_add(static_cast<int64_t>(push_stats.applied));
        // Every rank's push is applied before any rank pulls the next batch
        // (Push returns once its servers applied it), so every step reads the
        // rows of all earlier steps.
        float sync = 0.0f;
        IAK_RETURN_IF_ERROR(communicator_->AllReduceMean(&sync, 1, Deadline::After(collective_timeout))
                                .WithContext(options_.name + " push barrier"));
      }
      steps_done_.fetch_add(1);
      samples_done_.fetch_add(batch.n);
      window_loss += loss;
      window_samples += batch.n;
      ++window_steps;
      if (options_.progress_every > 0 &&
          ((s + 1) % options_.progress_every == 0 || s + 1 == command.steps())) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
        last_loss_.store(window_loss / window_steps);
        if (rank == 0) {
          LOG(INFO) << "progress: " << spec.method() << " step " << (s + 1) << "/"
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
    IAK_RETURN_IF_ERROR(next_phase());
  }

  trained_params_.clear();
  for (const auto& trainer : trainers) trained_params_.push_back(trainer->Params());
  if (rank == 0) {
    const std::string dir = spec.output_dir() + "/models";
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
      return IoError("cannot create " + dir + ": " + error.message() +
                     "; set output_dir to a writable directory");
    }
    for (int i = 0; i < num_domains; ++i) {
      IAK_RETURN_IF_ERROR(WriteFileAtomically(MethodModelPath(spec.output_dir(), domain_names_[i]),
                                              trainers[i]->Model().Serialize()));
    }
    LOG(INFO) << "progress: wrote " << num_domains << " " << spec.method() << " model(s) to "
              << dir;
  }
  return Status::Ok();
}

}  // namespace iak::worker
