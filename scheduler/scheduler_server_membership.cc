#include "scheduler/scheduler_server_membership.h"

#include <utility>

namespace iak::scheduler {

SchedulerServerMembership::SchedulerServerMembership(net::Transport* transport,
                                                     SchedulerClientOptions options)
    : address_(options.scheduler_address), client_(transport, std::move(options)) {}

StatusOr<int> SchedulerServerMembership::Join(const proto::RegisterRequest& request,
                                              std::function<void(proto::Heartbeat*)> stats) {
  if (request.role() != proto::ROLE_SERVER) {
    return InvalidArgumentError("SchedulerServerMembership::Join: role " +
                                proto::Role_Name(request.role()) + ", expected ROLE_SERVER");
  }
  // The caller names the scheduler in its error (description()).
  StatusOr<int> node_id = client_.Register(request);
  if (!node_id.ok()) return node_id.status();
  client_.StartHeartbeats(std::move(stats));
  return node_id;
}

std::string SchedulerServerMembership::description() const {
  return "the scheduler at " + address_;
}

}  // namespace iak::scheduler
