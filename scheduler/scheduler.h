// Scheduler: membership, liveness and phase barriers of one IAK-PS job.
//
// Servers (one per shard) and workers (one per rank) Register and get a node
// id, then Heartbeat on their own schedule. Workers meet at barriers; the k-th
// barrier completes once all workers reached it and all servers are
// registered, and every worker then gets the server list (sorted by shard)
// and plan[k], the command for the next phase (PHASE_FINISHED once the plan
// is exhausted). The scheduler holds no model state; it only coordinates.
//
// How a job ends (the Status Run returns):
//   OK                 all workers passed the FINISHED barrier and
//                      deregistered; servers are told to shut down (heartbeat
//                      answers) and Run returns once they all deregistered or
//                      shutdown_grace passed.
//   Unavailable        a registered node sent no heartbeat for
//                      heartbeat_timeout (the message names it).
//   FailedPrecondition a node deregistered before the job finished.
//   DeadlineExceeded   not every node registered within startup_timeout (the
//                      message lists who is missing).
//   Cancelled          `stop` became true (Ctrl-C).
// On a failure, waiting barrier calls get the failure as an error reply and
// every later heartbeat is answered with shutdown=true; Run keeps answering
// for a short while (until every live node was told, or
// min(shutdown_grace, 3 heartbeat intervals) passed) and then returns.
// The first failure is the job's cause and stays so: whatever fails after it
// (a node refused because it registered too late, a waiter's error) is its
// consequence, and says so by naming it.
//
// Elastic jobs (options.elastic.enabled, docs/elastic.md "Sync protocol"):
// workers register without a fixed rank and meet the scheduler at sync
// points instead of barriers (SyncRequest/SyncResponse). The scheduler keeps
// the membership epoch (the ordered list of live workers; rank = index),
// hosts the rendezvous store their Gloo groups form through (keys under
// "epoch-<E>/"), admits joiners and drops dead workers at the next sync,
// applies ScaleRequests, and hands out the job position every member
// continues from. A dead worker fails the job only when fewer than
// min_workers remain; barriers are refused in this mode. A failed round (a
// member reports a failed collective or group, or the positions disagree)
// rolls everyone back to the last sync point in a new epoch; once more than
// max_failed_rounds such rounds follow each other at one sync point without
// a new one committed, the failure is not transient and the job fails
// (Unavailable naming the position and the members' failures). Before the first
// epoch forms, a worker that deregisters with an error (e.g. it refused a
// corrupt checkpoint) counts as failed: once num_workers - failed <
// min_workers, the job fails at once (FailedPrecondition naming them and
// their errors) instead of waiting for startup_timeout.
//
// Identity (docs/operations.md "Threat model"): a node is bound to the origin
// of the transport that registered it (net::PeerId::origin, the sending
// process). A heartbeat, barrier, sync or deregister naming that node from
// another origin is refused and logged (rate-limited), never obeyed; so is a
// retried registration of a held rank or shard from another origin, and a
// write to the rendezvous store from an origin with no registered live
// worker. The in-process transport has no origins, so nothing is bound
// there. Without CURVE the origin is an unguessable claim, not a proof:
// turn CURVE on beyond one host.
//
// What peers can make it hold is bounded (docs/operations.md "Threat
// model"): an elastic job holds at most kRegisteredWorkersPerMember *
// max_workers live worker registrations (later ones are refused), and of the
// nodes that left or were dropped only the kMaxLeftNodes most recently
// registered are remembered; an older one is forgotten, so its late
// heartbeat, sync or deregistration is refused as from a node that never
// registered.
//
// Thread-safety: Start and Run from one thread; all requests are handled on
// the thread in Run, so the job state needs no lock. address() is safe from
// any thread once Start returned; node_count() only on the thread in Run or
// once Run returned.
#ifndef IAK_SCHEDULER_SCHEDULER_H_
#define IAK_SCHEDULER_SCHEDULER_H_

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collective/store_service.h"
#include "common/clock.h"
#include "common/status.h"
#include "net/rpc.h"
#include "net/transport.h"
#include "proto/job_spec.pb.h"
#include "proto/wire.pb.h"
#include "scheduler/job_metrics.h"

namespace iak::scheduler {

// An elastic job holds at most this many live worker registrations per
// member it may have (max_workers): the members, and as many again waiting
// to join. That is room for every member to be replaced by a restarted
// worker before the old one's death is noticed (heartbeat_timeout), so a
// replacement is not refused for want of room (unless other registrations
// already hold the waiting places), while registrations that never become
// members cannot grow the scheduler without bound.
inline constexpr int kRegisteredWorkersPerMember = 2;

// Nodes that deregistered or were dropped are remembered (to refuse their
// late messages by name, to keep a shard's or rank's last holder) up to this
// many, the most recently registered first; older ones are forgotten. Far
// above what restarts of a real job leave; it bounds what repeated
// register/deregister cycles leave behind.
inline constexpr size_t kMaxLeftNodes = 1024;

// Elastic mode (JobSpec.elastic). Defaults as in job/job_spec.cc.
struct ElasticOptions {
  bool enabled = false;
  int min_workers = 1;       // the job fails below this many live workers
  int max_workers = 0;       // members at most (0 = num_workers)
  int sync_every_steps = 10; // told to the workers in every sync reply
  // Consecutive failed rounds at one sync point that are retried; the next
  // one fails the job (>= 0; the spec's 0 means the default, 3).
  int max_failed_rounds = 3;
};

struct SchedulerOptions {
  // Where to listen, e.g. "tcp://0.0.0.0:7000" or "inproc://scheduler".
  std::string listen_address;
  int num_servers = 0;  // shards; >= 0
  // Servers per shard (replicas). A replica that dies or leaves is dropped
  // while its shard has another live replica; the job fails only when a shard
  // has none left. Default 1.
  int replicas_per_shard = 1;
  int num_workers = 0;  // ranks 0..num_workers-1; >= 1
  // Heartbeat period told to nodes at Register. Default 500 ms.
  Duration heartbeat_interval = Duration(500);
  // A registered node silent this long is dead and fails the job. Default 10 s.
  Duration heartbeat_timeout = Duration(10000);
  // Every node must have registered this long after Start. Default 120 s.
  Duration startup_timeout = Duration(120000);
  // After the workers left, how long servers get to deregister. Default 10 s.
  Duration shutdown_grace = Duration(10000);
  // The phases, handed out at barriers 0, 1, ...; each must be
  // PHASE_COMPRESSION or PHASE_MATCHING.
  std::vector<proto::PhaseCommand> plan;
  // Time for heartbeat ages and the timeouts above; not owned. Tests inject a
  // ManualClock.
  const Clock* clock = RealClock::Get();
  // Where the scheduler records what /metrics shows; not owned; may be null.
  JobMetrics* metrics = nullptr;
  // Called once, on the thread in Run, when the job stops failed or
  // cancelled, with why (the Status Run will return), before any node is
  // told. Lets whoever runs the whole job (e.g. as threads of one process)
  // order the scheduler's verdict among its nodes' own errors. May be empty.
  std::function<void(const Status&)> on_stopped;
  // Elastic mode; num_workers is then the initial target worker count.
  ElasticOptions elastic;
  // Limits on the elastic rendezvous store (collective/store_service.h).
  collective::StoreServiceOptions store;
};

// The elastic options of a job spec (defaults applied): disabled unless
// spec.elastic.enabled. Every launcher of a scheduler passes them on.
ElasticOptions ElasticOptionsFor(const proto::JobSpec& spec);

class Scheduler {
 public:
  // `transport` is not owned and must outlive the scheduler.
  Scheduler(SchedulerOptions options, net::Transport* transport);
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Checks the options and starts listening. InvalidArgument for bad options,
  // the transport's error (e.g. Unavailable: port in use) otherwise.
  [[nodiscard]] Status Start();

  // The address nodes connect to (real port filled in); empty before Start.
  std::string address() const;

  // Serves until the job ends; see the top of this file for what it returns.
  // FailedPrecondition if Start did not succeed.
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  // The nodes the scheduler holds: the registered ones and the left ones it
  // still remembers (at most kMaxLeftNodes beyond those holding a rank or
  // shard). For tests and diagnostics; on the thread in Run or after it.
  size_t node_count() const { return nodes_.size(); }

 private:
  enum class State {
    kRunning,    // registering, heartbeating, barriers
    kFinished,   // FINISHED handed out; waiting for workers to deregister
    kDone,       // workers left; telling servers to shut down
    kFailed,     // a node died or left, or startup timed out
    kCancelled,  // stop was requested
  };

  struct Node {
    int id = 0;
    proto::RegisterRequest info;
    std::string label;  // "worker-1 (node 3)"
    TimePoint last_seen;
    bool left = false;           // deregistered
    bool told_shutdown = false;  // a heartbeat was answered with shutdown
    bool told_leave = false;     // elastic: told to leave (scaled down)
    std::string origin;          // net::PeerId::origin of its registration
  };

  void Handle(net::RpcCall call);
  // False (and the call refused and logged) when `call` speaks for a node
  // registered from another origin.
  bool FromOwner(const net::RpcCall& call, int node_id, const char* what);
  // The store's write check: the caller's origin has a live registered worker.
  Status AuthorizeStoreWrite(const net::RpcCall& call) const;
  void HandleRegister(const net::RpcCall& call);
  void HandleHeartbeat(const net::RpcCall& call);
  void HandleBarrier(net::RpcCall call);
  void HandleDeregister(const net::RpcCall& call);
  // What `node` leaving (deregistered, reporting `raw_error` or nothing)
  // means for the job.
  void HandleLeft(Node& node, const std::string& raw_error);

  // Elastic mode (scheduler_elastic.cc).
  void HandleSync(net::RpcCall call);
  void HandleScale(const net::RpcCall& call);
  // Takes worker `id` out of the membership (dead or left with an error);
  // the next sync forms an epoch without it.
  void DropWorker(int id, const std::string& why);
  // Completes the pending sync once every member is waiting at it.
  void MaybeCompleteSync();
  void CompleteSync();
  // What a completed sync decides, built by the steps below in order.
  struct SyncOutcome {
    proto::JobPosition position;  // where the next segment starts
    bool restore = false;         // roll back to the last sync point
    // Of the roll-back: "worker-1 (node 3): <its failure>", "; "-separated.
    std::string why;
    std::vector<int> next;        // the next epoch's members, by rank
    std::vector<int> leaving;     // members told to leave (scaled down)
    std::vector<int> joining;     // admitted now
    std::vector<int> receivers;   // receive rank 0's state
    bool receives(int id) const;
  };
  SyncOutcome AgreedPosition() const;
  // Counts `outcome` among the failed rounds at the current sync point (a
  // committed new position resets the count); past max_failed_rounds it
  // ends the job and returns true.
  bool EndedForNoProgress(const SyncOutcome& outcome);
  void ChooseMembers(SyncOutcome* outcome) const;
  void ChooseReceivers(SyncOutcome* outcome) const;
  proto::SyncResponse SyncResponseFor(const SyncOutcome& outcome, bool finished) const;
  void AnswerSync(const SyncOutcome& outcome, const proto::SyncResponse& base, bool finished);
  bool elastic() const { return options_.elastic.enabled; }
  int max_members() const;
  // FailedPrecondition when an elastic job already holds the most live
  // worker registrations it takes (kRegisteredWorkersPerMember).
  Status CheckRoomForWorker(const std::string& name) const;
  // Forgets the oldest left nodes beyond kMaxLeftNodes that nothing refers
  // to any more (no rank, shard, membership, join queue or waiting call).
  void ForgetOldLeftNodes();
  bool Referenced(int id) const;
  // Records why a worker was dropped, for the job's error; keeps the latest
  // kMaxDroppedNoted.
  void NoteDropped(std::string why);
  void Tick(const std::atomic<bool>& stop);

  // Checks a registration against the job; returns the id of an identical
  // earlier registration (a retried request) in *existing, or -1.
  Status ValidateRegister(const proto::RegisterRequest& request, const std::string& origin,
                          int* existing) const;
  void MaybeCompleteBarrier();
  proto::BarrierResponse BarrierReply(const proto::PhaseCommand& command) const;
  // Ends the job with `status` (kFailed or kCancelled) and fails waiters.
  void End(State state, Status status);
  void CheckStartup(TimePoint now);
  void CheckLiveness(TimePoint now);
  bool AllLiveNodesTold(TimePoint now) const;
  bool ShuttingDown() const;
  bool AllLeft(proto::Role role) const;
  // True when `shard` has a live (registered, not left, heard from within the
  // heartbeat timeout) server other than node `except`.
  bool ShardHasOtherLiveReplica(int shard, int except, TimePoint now) const;
  int replicas() const { return std::max(1, options_.replicas_per_shard); }

  void Reply(const net::RpcCall& call, proto::Envelope reply);
  void ReplyError(const net::RpcCall& call, const Status& error);

  SchedulerOptions options_;
  net::Transport* transport_;
  std::unique_ptr<net::RpcServer> server_;
  std::string address_;  // written once in Start
  TimePoint started_at_;
  std::atomic<bool> server_stop_{false};

  // Job state: touched only by the thread in Run.
  State state_ = State::kRunning;
  Status outcome_;     // why the job failed or was cancelled
  TimePoint ended_at_;  // when state_ left kRunning/kFinished
  std::map<int, Node> nodes_;         // by node id
  // shard * replicas_per_shard + replica -> node id; sorted by shard, replica.
  std::map<int, int> server_by_shard_;
  std::map<int, int> worker_by_rank_;   // rank -> node id
  int next_node_id_ = 1;              // 0 is the scheduler
  size_t barrier_index_ = 0;          // the barrier workers gather at
  std::string barrier_name_;          // its name, set by the first arrival
  std::map<int, net::RpcCall> waiting_;  // node id -> deferred barrier call

  // Elastic state (also touched only by the thread in Run).
  std::unique_ptr<collective::StoreService> store_;  // rendezvous for Gloo
  int64_t epoch_ = 0;                   // current membership epoch; 0 = none yet
  std::vector<int> members_;            // node ids by rank in epoch_
  std::vector<int> epoch_members_;      // members_ as epoch_ was formed
  // Members admitted at the last sync whose state (received from rank 0)
  // is not confirmed by a completed segment yet: after a failed round they
  // receive it again.
  std::vector<int> needs_state_;
  std::vector<int> join_order_;         // non-members waiting to join, by arrival
  std::map<int, net::RpcCall> syncing_;  // node id -> deferred sync call
  proto::JobPosition committed_;        // position of the last sync point
  int failed_rounds_ = 0;               // consecutive failed rounds at committed_
  int target_workers_ = 0;              // set by num_workers, then ScaleRequests
  // The startup timeout passed with fewer initial workers than num_workers
  // waiting, but at least min_workers: the first epoch forms with those.
  bool start_with_waiting_ = false;
  // "worker-2 (node 4): why", for errors: the latest kMaxDroppedNoted, and
  // how many were dropped before them.
  std::vector<std::string> dropped_;
  size_t dropped_earlier_ = 0;
  // Workers that deregistered with an error before the first epoch formed:
  // "worker-2 (node 4): error".
  std::vector<std::string> failed_before_first_epoch_;
};

}  // namespace iak::scheduler

#endif  // IAK_SCHEDULER_SCHEDULER_H_
