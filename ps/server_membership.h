// ServerMembership: how a parameter server takes part in a job that someone
// else coordinates. PsServer (ps/ps_server.h) knows only this interface; the
// scheduler's implementation (scheduler/scheduler_server_membership.h) is
// plugged in by whoever assembles the node (cli/ps_command.cc,
// cluster/inproc_cluster.cc, tests), so ps/ never includes scheduler/:
// layers point one way (docs/architecture.md, tools/check_layers.sh).
//
// The server calls Join() once, polls ended() while it serves, and calls
// Leave() once after it stopped serving.
//
// Thread-safety: Join() and Leave() from the serving thread; ended() and
// end_reason() from any thread; `stats` of Join() is called on the
// membership's own thread(s), so it must be thread-safe.
#ifndef IAK_PS_SERVER_MEMBERSHIP_H_
#define IAK_PS_SERVER_MEMBERSHIP_H_

#include <functional>
#include <string>

#include "common/status.h"
#include "proto/wire.pb.h"

namespace iak::ps {

class ServerMembership {
 public:
  virtual ~ServerMembership() = default;

  // Joins the job as the server `request` describes (role, name, address,
  // shard, replica, host, pid) and from then on reports `stats` (may be
  // empty; it fills the counters of each heartbeat) until Leave(). Returns
  // the node id the coordinator gave, or why the server could not join
  // (Unavailable/DeadlineExceeded for an unreachable coordinator, its refusal
  // otherwise).
  [[nodiscard]] virtual StatusOr<int> Join(const proto::RegisterRequest& request,
                                           std::function<void(proto::Heartbeat*)> stats) = 0;

  // True once the job is over for this server: the coordinator ended it or
  // stopped answering.
  virtual bool ended() const = 0;
  // Why the job ended early (e.g. "the scheduler at ... did not answer");
  // empty while it runs or when it ended normally.
  virtual std::string end_reason() const = 0;

  // Leaves the job. Errors are the coordinator's; a server logs and ignores
  // them (it has stopped serving either way).
  [[nodiscard]] virtual Status Leave() = 0;

  // Who coordinates, for logs and error context: "the scheduler at tcp://...".
  virtual std::string description() const = 0;
};

}  // namespace iak::ps

#endif  // IAK_PS_SERVER_MEMBERSHIP_H_
