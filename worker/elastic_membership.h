// ElasticMembership: members that join and leave while the job runs
// (docs/elastic.md). Each Next() is a sync with the scheduler: the reply
// says who the members of the next segment are, this worker's rank, where
// the job stands and what to do (train, finish, leave). Per membership epoch
// it forms a collective group through the scheduler's rendezvous store
// (collective::FormGroup: Gloo for CPU workers, NCCL when
// launcher.gpus_per_worker > 0). A failed collective is reported at the next
// sync; the scheduler forms a new epoch without the dead worker, and every
// member rolls back to the last sync point (Segment.restore). Joiners receive
// rank 0's state (Segment.receive_state).
//
// Thread-safety: one thread (the trainer's).
#ifndef IAK_WORKER_ELASTIC_MEMBERSHIP_H_
#define IAK_WORKER_ELASTIC_MEMBERSHIP_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "collective/rendezvous_store.h"
#include "net/transport.h"
#include "scheduler/scheduler_client.h"
#include "worker/membership.h"

namespace iak::worker {

// One recovery from a failed collective, as this worker saw it.
struct ElasticRecovery {
  double detect_ms = 0;    // failed collective -> the scheduler's new epoch
  double recover_ms = 0;   // failed collective -> first step of the new group done
  int64_t steps_lost = 0;  // steps done since the sync point, redone
  int members = 0;         // size of the new group
};

struct ElasticMembershipOptions {
  std::string name;
  std::string scheduler_address;  // also the rendezvous store's
  std::string gloo_hostname = "127.0.0.1";  // the address Gloo binds and publishes
  std::string backend = "gloo";   // "gloo" or "nccl"
  Duration sync_timeout{std::chrono::seconds(300)};
  Duration collective_timeout{std::chrono::seconds(60)};
  // Fault injection (tests): at this global step the worker stops
  // heartbeating, closes its group's connections and fails with Cancelled
  // without deregistering, as a killed process would. -1 = never.
  int64_t abandon_at_step = -1;
  // Set once the first sync (the request to join) has been sent; may be null.
  std::atomic<bool>* first_sync_sent = nullptr;
};

class ElasticMembership : public Membership {
 public:
  // `transport` and `scheduler` (registered, heartbeating) must outlive it.
  ElasticMembership(ElasticMembershipOptions options, net::Transport* transport,
                    scheduler::SchedulerClient* scheduler);
  ~ElasticMembership() override;

  StatusOr<Segment> Next(const SegmentReport& report) override;
  bool recovers_from_failures() const override { return true; }
  Status CheckAlive(int64_t global_step) override;
  void OnStepDone() override;

  const std::vector<ElasticRecovery>& recoveries() const { return recoveries_; }
  // True when the worker stopped through abandon_at_step (do not deregister).
  bool abandoned() const { return abandoned_; }

 private:
  ElasticMembershipOptions options_;
  net::Transport* transport_;
  scheduler::SchedulerClient* scheduler_;
  std::unique_ptr<collective::RpcStore> store_;
  std::unique_ptr<collective::Communicator> group_;
  int64_t group_epoch_ = 0;
  int64_t epoch_ = 0;  // the membership epoch of this worker's state; 0 = joining
  std::vector<ElasticRecovery> recoveries_;
  bool awaiting_new_epoch_ = false;
  bool recovering_ = false;
  std::chrono::steady_clock::time_point failed_at_;
  bool abandoned_ = false;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_ELASTIC_MEMBERSHIP_H_
