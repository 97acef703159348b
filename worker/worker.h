// Worker: one worker process (or thread) of a cluster job, whatever its
// method and membership. It registers with the scheduler, heartbeats its
// progress, and trains through the one Trainer (worker/trainer.h) with:
//   membership  StaticMembership (a fixed MPI or in-process group, phases at
//               barriers) or, with spec.elastic.enabled, ElasticMembership
//               (a group per membership epoch, formed through the scheduler);
//   rows        PsRowAccess: the job's parameter servers;
//   method      from spec.method: iak, plain, frozen, dense, lora, full.
// Rank 0 writes the results (<output_dir>/adapters or /models, validation.json).
// A failure deregisters with the error, which fails the job at once naming
// the cause.
//
// Thread-safety: Run() on one thread; stats readable from any thread.
#ifndef IAK_WORKER_WORKER_H_
#define IAK_WORKER_WORKER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "common/status.h"
#include "model/iak_module.h"
#include "net/transport.h"
#include "proto/job_spec.pb.h"
#include "worker/elastic_membership.h"
#include "worker/row_source.h"
#include "worker/trainer.h"

namespace iak::worker {

struct WorkerOptions {
  proto::JobSpec spec;            // defaults applied and validated
  std::string scheduler_address;
  std::string name;               // default "worker-<rank>"
  // Log a progress line every this many steps (rank 0 only). 0 = never.
  int progress_every = 50;
  // Threads one training step splits its batch over. With more than one,
  // BLAS gets one thread per call (process-wide). Default 2: the cores of one
  // small machine.
  int compute_threads = 2;
  // Elastic jobs: this worker's rank hint for the first epoch (-1 = none) and
  // the address its Gloo transport binds and publishes.
  int rank_hint = -1;
  std::string gloo_hostname = "127.0.0.1";
  // Fault injection for tests (elastic jobs): abandon the job at this global
  // step like a killed process (ElasticMembershipOptions::abandon_at_step).
  int64_t abandon_at_step = -1;
  // Instrumentation for tests: called after every completed step.
  std::function<void(const StepRecord&)> on_step_done;
};

class Worker {
 public:
  // `transport` and `communicator` must outlive the worker. `communicator`
  // is null for an elastic job (the worker forms its own groups).
  Worker(WorkerOptions options, net::Transport* transport,
         collective::Communicator* communicator);
  ~Worker();

  // Runs the job to its end. OK when every phase finished (and, on rank 0,
  // the results were written).
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  // After Run: per training unit (a domain, or the cold domains' shared
  // adapter), its name, and its trained values: the adapter (iak, plain) or
  // the trained parameters (other methods), identical on every rank.
  const std::vector<std::string>& domain_names() const { return domain_names_; }
  const std::vector<model::IakModule>& adapters() const { return adapters_; }
  const std::vector<std::vector<float>>& trained_params() const { return trained_params_; }
  const std::vector<TrainedUnit>& units() const { return units_; }
  int64_t steps_done() const { return steps_done_.load(); }
  // Keys this worker looked up on the servers (row-cache hits excluded).
  uint64_t keys_pulled() const { return pull_monitor_.keys_looked_up.load(); }
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
  Status Train(scheduler::SchedulerClient* scheduler, const std::atomic<bool>& stop,
               bool* abandoned);

  WorkerOptions options_;
  net::Transport* transport_;
  collective::Communicator* communicator_;
  std::vector<std::string> domain_names_;
  std::vector<model::IakModule> adapters_;
  std::vector<std::vector<float>> trained_params_;
  std::vector<TrainedUnit> units_;
  std::atomic<int64_t> steps_done_{0};
  std::atomic<int64_t> samples_done_{0};
  std::atomic<double> last_loss_{0.0};
  // Pull latency and cache hit rate, for the heartbeats (and /metrics).
  PullMonitor pull_monitor_;
  // The trainer's latest validation records, for the heartbeats (and /metrics).
  ValidationBoard validation_board_;
  std::atomic<bool> first_sync_sent_{false};
  int64_t final_global_step_ = 0;
  bool left_by_scale_ = false;
  std::vector<ElasticRecovery> recoveries_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_WORKER_H_
