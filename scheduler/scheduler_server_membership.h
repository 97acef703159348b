// SchedulerServerMembership: a parameter server's membership in a job run by
// the scheduler (ps::ServerMembership over a SchedulerClient): register as a
// server, heartbeat on the client's thread, learn when the scheduler ends
// the job or stops answering, deregister.
//
//   scheduler::SchedulerClientOptions link;
//   link.scheduler_address = "tcp://sched:7000";
//   link.name = "ps-0";
//   scheduler::SchedulerServerMembership membership(&transport, link);
//   Status served = server.Run(stop, &membership);
//
// It lives here, not in ps/, so that the parameter server does not depend on
// the scheduler (docs/architecture.md).
//
// Thread-safety: as ps::ServerMembership.
#ifndef IAK_SCHEDULER_SCHEDULER_SERVER_MEMBERSHIP_H_
#define IAK_SCHEDULER_SCHEDULER_SERVER_MEMBERSHIP_H_

#include <functional>
#include <string>

#include "common/status.h"
#include "net/transport.h"
#include "proto/wire.pb.h"
#include "ps/server_membership.h"
#include "scheduler/scheduler_client.h"

namespace iak::scheduler {

class SchedulerServerMembership : public ps::ServerMembership {
 public:
  // `transport` is not owned and must outlive this object.
  SchedulerServerMembership(net::Transport* transport, SchedulerClientOptions options);

  // SchedulerClient::Register (request.role must be ROLE_SERVER, else
  // InvalidArgument), then heartbeats. Errors: the client's.
  [[nodiscard]] StatusOr<int> Join(const proto::RegisterRequest& request,
                                   std::function<void(proto::Heartbeat*)> stats) override;
  bool ended() const override { return client_.shutdown_requested(); }
  std::string end_reason() const override { return client_.shutdown_reason(); }
  [[nodiscard]] Status Leave() override { return client_.Deregister(); }
  std::string description() const override;

 private:
  const std::string address_;
  SchedulerClient client_;
};

}  // namespace iak::scheduler

#endif  // IAK_SCHEDULER_SCHEDULER_SERVER_MEMBERSHIP_H_
