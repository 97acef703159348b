// Worker: one rank of a fine-tuning job. It reads its shard of each domain's
// training data, pulls the batch's embedding rows from the parameter servers,
// runs the frozen base model, trains one IAK adapter per domain, averages the
// adapters' gradients over all workers and steps Adam. The scheduler hands
// out the phases (compression, then matching) at barriers, so every worker
// switches at the same step.
//
// With a domain plan (JobSpec.domain_plan, docs/job_spec.md) each trained
// adapter has its own batch size and learning-rate scale from its domain's
// global training count, and cold domains share one adapter (over the union
// of their samples) or are left to the base; rank 0 writes the plan file
// next to the adapters (worker/adapter_plan_file.h).
//
// The data side runs on its own thread (BatchPipeline): the next batch's
// pull overlaps this batch's compute. With the frozen-prefix cache (JobSpec
// frozen_prefix_cache, on by default) epochs 2+ take the frozen bottom's
// output from the cache and neither pull nor run the bottom.
//
// Checkpoints (JobSpec checkpoint, docs/elastic.md): rank 0 writes the
// adapters, Adam states, cursors, phase and step every N steps and at each
// phase's end; with checkpoint.resume every rank loads the latest intact one,
// replays its data pipeline to it without pulling or training, and continues
// from that phase and step.
//
// Elastic jobs (spec.elastic.enabled, docs/elastic.md): the worker takes no
// communicator; it registers with a rank hint, gets its rank per membership
// epoch from the scheduler's sync replies and trains through an
// ElasticTrainer (Gloo groups re-formed per epoch, global data cursors,
// recovery from a dead peer at the last sync point).
//
// Every wait is bounded (pull, all-reduce, barrier); a dead peer ends Run
// with an error naming it.
//
// Thread-safety: Run() on one thread; stats readable from any thread.
#ifndef IAK_WORKER_WORKER_H_
#define IAK_WORKER_WORKER_H_

#include <atomic>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "common/status.h"
#include "model/iak_module.h"
#include "net/transport.h"
#include "proto/iak.pb.h"
#include "scheduler/scheduler_client.h"
#include "worker/elastic_trainer.h"
#include "worker/row_source.h"
#include "worker/training_setup.h"

namespace iak::worker {

struct WorkerOptions {
  proto::JobSpec spec;            // defaults applied and validated
  std::string scheduler_address;
  std::string name;               // default "worker-<rank>"
  // Log a progress line every this many steps (rank 0 only). 0 = never.
  int progress_every = 50;
  // Threads one training step splits its batch over (ParallelFineTuneStep).
  // With more than one, the worker sets BLAS to one thread per call
  // (process-wide). Default 2: the cores of one small machine.
  int compute_threads = 2;
  // Elastic jobs: this worker's rank hint for the first epoch (-1 = none) and
  // the address its Gloo transport binds and publishes.
  int rank_hint = -1;
  std::string gloo_hostname = "127.0.0.1";
  // Fault injection for tests (elastic jobs): abandon the job at this global
  // step like a killed process (ElasticTrainerOptions::abandon_at_step).
  int64_t abandon_at_step = -1;
};

class Worker {
 public:
  // `transport` and `communicator` must outlive the worker. `communicator`
  // is null for an elastic job (the worker forms its own groups).
  Worker(WorkerOptions options, net::Transport* transport,
         collective::Communicator* communicator);

  // Runs the job to its end. OK when every phase finished (and, on rank 0,
  // the adapters were written to <output_dir>/adapters).
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  // After Run: one adapter per trained adapter, named by domain_names(): a
  // domain's name, or "shared:<d1>+<d2>" for the cold domains' shared one
  // (JobSpec.domain_plan; without a plan, one per fine-tuned domain).
  const std::vector<model::IakModule>& adapters() const { return adapters_; }
  const std::vector<std::string>& domain_names() const { return domain_names_; }
  // Static jobs, after Run: the domain plan, and per trained adapter the
  // steps and this rank's samples it trained (replayed steps of a resumed
  // run included, so a resumed job reports what a straight one does).
  const JobDomainPlan& domain_plan() const { return plan_; }
  const std::vector<int64_t>& adapter_steps() const { return adapter_steps_; }
  const std::vector<int64_t>& adapter_samples() const { return adapter_samples_; }
  int64_t steps_done() const { return steps_done_.load(); }
  // Mean training loss of the last logged window.
  double last_loss() const { return last_loss_.load(); }
  // Elastic jobs: the job's global step when this worker finished or left,
  // whether it was told to leave, and the failures it recovered from.
  int64_t final_global_step() const { return final_global_step_; }
  bool left_by_scale() const { return left_by_scale_; }
  const std::vector<ElasticRecovery>& recoveries() const { return recoveries_; }
  // Elastic jobs: true once the worker loaded its inputs and asked the
  // scheduler to join (its first sync is on the way). Any thread.
  bool sent_first_sync() const { return first_sync_sent_.load(); }

 private:
  // Everything after registration: load, train every phase, write adapters.
  Status Train(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop);
  // An elastic job's training (ElasticTrainer); *abandoned when it stopped
  // through fault injection (then it must not deregister).
  // Rank 0: <dir>/domain_plan.tsv (worker/adapter_plan_file.h).
  Status WriteAdapterPlan(const std::string& dir) const;
  Status TrainElastic(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop,
                      bool* abandoned);

  WorkerOptions options_;
  net::Transport* transport_;
  collective::Communicator* communicator_;
  std::vector<model::IakModule> adapters_;
  std::vector<std::string> domain_names_;
  JobDomainPlan plan_;
  std::vector<int64_t> adapter_steps_;
  std::vector<int64_t> adapter_samples_;
  std::atomic<int64_t> steps_done_{0};
  std::atomic<int64_t> samples_done_{0};
  std::atomic<double> last_loss_{0.0};
  // Pull latency and cache hit rate, for the heartbeats (and /metrics).
  PullMonitor pull_monitor_;
  std::atomic<bool> first_sync_sent_{false};
  int64_t final_global_step_ = 0;
  bool left_by_scale_ = false;
  std::vector<ElasticRecovery> recoveries_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_WORKER_H_
