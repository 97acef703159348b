// SchedulerClient: how a PS or a worker talks to the scheduler: register,
// heartbeat (on its own thread and connection, so a long barrier wait never
// delays a heartbeat), wait at barriers for the next phase command, leave.
//
// Thread-safety: Register/Barrier/Deregister from one thread; the heartbeat
// thread is internal; shutdown_requested() from any thread.
#ifndef IAK_SCHEDULER_SCHEDULER_CLIENT_H_
#define IAK_SCHEDULER_SCHEDULER_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "net/rpc.h"
#include "net/transport.h"
#include "proto/wire.pb.h"

namespace iak::scheduler {

struct SchedulerClientOptions {
  std::string scheduler_address;
  std::string name;  // "ps-0", "worker-1"
  // Deadline of one register/heartbeat/deregister call. Default 5 s.
  Duration rpc_timeout = Duration(5000);
  // How many consecutive failed heartbeats mean the scheduler is gone. Default 10.
  int max_missed_heartbeats = 10;
};

class SchedulerClient {
 public:
  SchedulerClient(net::Transport* transport, SchedulerClientOptions options);
  ~SchedulerClient();  // stops the heartbeat thread

  // Registers this node; returns its node id. `request.name` defaults to options.name.
  [[nodiscard]] StatusOr<int> Register(proto::RegisterRequest request);

  // Starts heartbeats every interval the scheduler asked for at Register.
  // `stats` (may be empty) fills step/loss/samples of each heartbeat; it is
  // called on the heartbeat thread, so it must be thread-safe.
  void StartHeartbeats(std::function<void(proto::Heartbeat*)> stats);

  // Waits at barrier `name` until every worker reached it or `deadline`.
  // The response carries the PS addresses and the next phase command. Like
  // Sync, it also returns (Unavailable, with shutdown_reason()) as soon as
  // the heartbeats find the scheduler gone or the job ended, instead of
  // waiting out `deadline` for a reply that will not come.
  [[nodiscard]] StatusOr<proto::BarrierResponse> Barrier(const std::string& name,
                                                         Deadline deadline);

  // Elastic jobs: waits at the next sync point (docs/elastic.md) until the
  // scheduler forms the membership for the next segment, or `deadline`.
  [[nodiscard]] StatusOr<proto::SyncResponse> Sync(proto::SyncRequest request, Deadline deadline);

  // Stops heartbeating without deregistering, as a crashed process would:
  // the scheduler declares this node dead after its heartbeat timeout.
  // For fault-injection tests.
  void Abandon() { StopHeartbeats(); }

  // Asks the scheduler of a running elastic job at `address` for a new
  // worker count (`iak scale`). InvalidArgument outside min..max workers,
  // FailedPrecondition for a job that is not elastic.
  [[nodiscard]] static StatusOr<proto::ScaleResponse> Scale(net::Transport* transport,
                                                            const std::string& address,
                                                            int num_workers, Deadline deadline);

  // Leaves the job. A non-empty `error` says why this node stops early; the
  // scheduler then fails the job with it instead of waiting for a timeout.
  // Leaving cleanly sends one last heartbeat first (best effort), so the
  // scheduler's metrics hold the node's final figures, not those of up to an
  // interval before.
  [[nodiscard]] Status Deregister(const std::string& error = "");

  // True once the scheduler said the job is over, or stopped answering.
  bool shutdown_requested() const { return shutdown_.load(); }
  // Why shutdown was requested (empty while running or when the job ended normally).
  std::string shutdown_reason() const;

  int node_id() const { return node_id_; }

 private:
  void HeartbeatLoop(std::unique_ptr<net::RpcClient> rpc,
                     std::function<void(proto::Heartbeat*)> stats);
  void RequestShutdown(const std::string& reason);
  void StopHeartbeats();
  // Sends `request` and awaits its reply until `deadline`, or until shutdown
  // is requested (checked between slices of the wait).
  StatusOr<net::RpcReply> CallWhileRunning(proto::Envelope request, Deadline deadline);

  net::Transport* transport_;  // not owned
  SchedulerClientOptions options_;
  // Register/Barrier/Deregister; created by the first Register.
  std::unique_ptr<net::RpcClient> control_;
  int node_id_ = -1;
  Duration heartbeat_interval_ = Duration(500);  // from the register reply
  // StartHeartbeats' `stats`, for the last heartbeat of Deregister (called
  // once the heartbeat thread has ended).
  std::function<void(proto::Heartbeat*)> stats_;

  std::atomic<bool> shutdown_{false};
  mutable std::mutex mu_;
  std::condition_variable wake_;   // wakes the heartbeat thread to stop
  bool stopping_ = false;          // guarded by mu_
  std::string shutdown_reason_;    // guarded by mu_
  std::thread heartbeat_thread_;   // owns its own RpcClient and connection
};

}  // namespace iak::scheduler

#endif  // IAK_SCHEDULER_SCHEDULER_CLIENT_H_
