#include "worker/worker.h"

#include <unistd.h>

#include <utility>

#include "worker/adapter_model.h"
#include "worker/model_factory.h"
#include "worker/row_access.h"
#include "worker/static_membership.h"
#include "worker/training_setup.h"
#include "worker/worker_registration.h"

namespace iak::worker {

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

Worker::~Worker() = default;

Status Worker::Run(const std::atomic<bool>& stop) {
  scheduler::SchedulerClientOptions sched_options;
  sched_options.scheduler_address = options_.scheduler_address;
  sched_options.name = options_.name;
  scheduler::SchedulerClient sched(transport_, sched_options);
  const bool elastic = options_.spec.elastic().enabled();
  if (!elastic && communicator_ == nullptr) {
    return InvalidArgumentError(options_.name + ": a static job needs a communicator");
  }
  // Validation records are the same on every rank of a group: a static job
  // sends rank 0's; an elastic job's ranks change, so every member sends
  // (the scheduler keeps the newest per domain).
  const bool sends_validation = elastic || communicator_->rank() == 0;
  IAK_RETURN_IF_ERROR(RegisterWorker(
      &sched, elastic ? options_.rank_hint : communicator_->rank(),
      {&steps_done_, &samples_done_, &last_loss_, &pull_monitor_,
       sends_validation ? &validation_board_ : nullptr}));
  bool abandoned = false;
  Status trained = Train(&sched, stop, &abandoned);
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

Status Worker::Train(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop,
                     bool* abandoned) {
  const proto::JobSpec& spec = options_.spec;
  IAK_ASSIGN_OR_RETURN(TrainingInputs inputs, LoadTrainingInputs(spec));
  PsRowAccess rows(spec, &inputs, options_.name, transport_, &pull_monitor_);
  std::unique_ptr<Membership> membership;
  ElasticMembership* elastic = nullptr;
  if (spec.elastic().enabled()) {
    ElasticMembershipOptions o;
    o.name = options_.name;
    o.scheduler_address = options_.scheduler_address;
    o.gloo_hostname = options_.gloo_hostname;
    // Gloo for CPU workers; NCCL for GPU workers, each on its device 0 (the
    // launcher hands a worker its GPUs through CUDA_VISIBLE_DEVICES).
    o.backend = spec.launcher().gpus_per_worker() > 0 ? "nccl" : "gloo";
    o.sync_timeout = Duration(spec.timeouts().barrier_timeout_ms());
    o.collective_timeout = Duration(spec.timeouts().collective_timeout_ms());
    o.abandon_at_step = options_.abandon_at_step;
    o.first_sync_sent = &first_sync_sent_;
    auto owned = std::make_unique<ElasticMembership>(o, transport_, scheduler);
    elastic = owned.get();
    membership = std::move(owned);
  } else {
    membership = std::make_unique<StaticMembership>(
        scheduler, communicator_, Duration(spec.timeouts().barrier_timeout_ms()),
        options_.name);
  }
  TrainerOptions trainer_options;
  trainer_options.spec = spec;
  trainer_options.name = options_.name;
  trainer_options.compute_threads = options_.compute_threads;
  trainer_options.progress_every = options_.progress_every;
  trainer_options.on_step_done = options_.on_step_done;
  Trainer trainer(std::move(trainer_options), &inputs, membership.get(), &rows,
                  {&steps_done_, &samples_done_, &last_loss_, &validation_board_});
  Status trained = trainer.Run(stop);
  if (pull_monitor_.keys_looked_up.load() > 0) {
    // A table whose keys do not match the data shows here (and fails the job
    // past spec.max_missing_key_rate).
    const PullMonitor& m = pull_monitor_;
    LOG(INFO) << "progress: " << options_.name << ": " << m.keys_missing.load() << " of "
              << m.keys_looked_up.load() << " looked-up keys were absent from the snapshot; of "
              << m.keys_read() << " keys read (pulled, or from the rows kept once pulled), "
              << m.keys_read_missing() << " (rate "
              << m.missing_key_rate() << ")";
  }
  if (elastic != nullptr) {
    recoveries_ = elastic->recoveries();
    *abandoned = elastic->abandoned();
  }
  final_global_step_ = trainer.final_global_step();
  left_by_scale_ = trainer.left();
  units_ = trainer.units();
  domain_names_.clear();
  adapters_.clear();
  trained_params_.clear();
  for (size_t u = 0; u < trainer.units().size() && trained.ok(); ++u) {
    domain_names_.push_back(trainer.units()[u].name);
    DomainModel* model = trainer.model(static_cast<int>(u));
    trained_params_.push_back(model->Params());
    if (auto* adapter = dynamic_cast<AdapterModel*>(model)) adapters_.push_back(adapter->adapter());
  }
  return trained;
}

}  // namespace iak::worker
