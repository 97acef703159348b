// ElasticTrainer: the training loop of an elastic worker (docs/elastic.md).
// It meets the scheduler at every sync point; the reply says who the members
// of the next segment are, this worker's rank, and where the job stands. Per
// membership epoch it forms a collective group through the scheduler's
// rendezvous store (collective::FormGroup: Gloo for CPU workers, NCCL when
// launcher.gpus_per_worker > 0); each step takes this rank's slice of the
// domain's global visiting order (data::GlobalCursor) and averages the
// adapter's gradients over the group.
//
// Failures: at every sync point the trainer keeps a copy of its adapters and
// Adam states. When a collective fails (a peer died) it reports the failure at
// a sync; the scheduler then forms a new epoch without the dead worker and
// every member restores the copy and redoes the segment from the sync point's
// position (at most sync_every_steps - 1 completed steps are redone). A
// joining worker receives the state from rank 0 over the new group.
//
// Checkpoints (docs/elastic.md, "Checkpoints of elastic jobs"): rank 0 of the
// current epoch writes one at the first sync point at or past every
// checkpoint.every_n_steps global steps and at each phase end: adapters,
// Adam states, phase, step and the GLOBAL cursors, with the membership epoch
// (>= 1, which marks the file as an elastic one). With checkpoint.resume
// every worker - any number of them - loads the latest intact checkpoint and
// reports its position at its first sync; the scheduler's first epoch starts
// at rank 0's report.
//
// Thread-safety: Run() on one thread; the counters are atomics.
#ifndef IAK_WORKER_ELASTIC_TRAINER_H_
#define IAK_WORKER_ELASTIC_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/iak_module.h"
#include "net/transport.h"
#include "proto/iak.pb.h"
#include "scheduler/scheduler_client.h"
#include "worker/row_source.h"

namespace iak::worker {

struct ElasticTrainerOptions {
  proto::JobSpec spec;  // defaults applied, elastic.enabled
  std::string name;
  std::string scheduler_address;  // also the rendezvous store's
  int compute_threads = 2;
  int progress_every = 50;
  // The address this worker's Gloo transport binds and publishes.
  std::string gloo_hostname = "127.0.0.1";
  // Fault injection (tests): at this global step the worker stops
  // heartbeating, closes its group's connections and returns Cancelled without
  // deregistering, as a killed process would. -1 = never.
  int64_t abandon_at_step = -1;
  // Instrumentation (tests): called on Run()'s thread after every completed
  // step (its all-reduce succeeded) with the global step, the domain index,
  // the data epoch of the domain's global order, the domain's number of
  // training ids and the ids this rank trained. Empty = none.
  std::function<void(int64_t global_step, int domain, int64_t data_epoch, size_t num_ids,
                     const std::vector<uint32_t>& ids)>
      on_step_done;
};

// Where the trainer reports progress (the worker's heartbeat counters).
struct ElasticCounters {
  std::atomic<int64_t>* steps_done = nullptr;
  std::atomic<int64_t>* samples_done = nullptr;
  std::atomic<double>* last_loss = nullptr;
  PullMonitor* pull_monitor = nullptr;
  // Set once the first sync (the request to join) has been sent; may be null.
  std::atomic<bool>* first_sync_sent = nullptr;
};

// One recovery from a failed collective, as this worker saw it.
struct ElasticRecovery {
  double detect_ms = 0;   // failed collective -> the scheduler's new epoch
  double recover_ms = 0;  // failed collective -> first step of the new group done
  int64_t steps_lost = 0;  // steps done since the sync point, redone
  int members = 0;         // size of the new group
};

class ElasticTrainer {
 public:
  // `transport` and `scheduler` (registered, heartbeating) must outlive it.
  ElasticTrainer(ElasticTrainerOptions options, net::Transport* transport,
                 scheduler::SchedulerClient* scheduler, ElasticCounters counters);

  // Trains until the scheduler says FINISH (rank 0 then writes the adapters
  // to <output_dir>/adapters) or LEAVE. Errors other than a failed
  // collective end it.
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  std::vector<model::IakModule>& adapters() { return adapters_; }
  const std::vector<std::string>& domain_names() const { return domain_names_; }
  // True when Run stopped through abandon_at_step (do not deregister).
  bool abandoned() const { return abandoned_; }
  // True when the scheduler told this worker to leave (scaled down).
  bool left() const { return left_; }
  // The job's global step at the FINISH (or LEAVE) reply.
  int64_t final_global_step() const { return final_global_step_; }
  const std::vector<ElasticRecovery>& recoveries() const { return recoveries_; }
  // The global step this worker's state started from: the checkpoint's with
  // checkpoint.resume (-1 when it started fresh), and the checkpoint's path.
  int64_t resumed_global_step() const { return resumed_global_step_; }
  const std::string& resumed_from() const { return resumed_from_; }

 private:
  ElasticTrainerOptions options_;
  net::Transport* transport_;
  scheduler::SchedulerClient* scheduler_;
  ElasticCounters counters_;
  std::vector<model::IakModule> adapters_;
  std::vector<std::string> domain_names_;
  bool abandoned_ = false;
  bool left_ = false;
  int64_t final_global_step_ = 0;
  std::vector<ElasticRecovery> recoveries_;
  int64_t resumed_global_step_ = -1;
  std::string resumed_from_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_ELASTIC_TRAINER_H_
