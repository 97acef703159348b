#include "scheduler/scheduler_client.h"

#include <algorithm>
#include <utility>

namespace iak::scheduler {

SchedulerClient::SchedulerClient(net::Transport* transport, SchedulerClientOptions options)
    : transport_(transport), options_(std::move(options)) {
  CHECK(transport_ != nullptr);
  CHECK_GT(options_.max_missed_heartbeats, 0);
}

SchedulerClient::~SchedulerClient() { StopHeartbeats(); }

StatusOr<int> SchedulerClient::Register(proto::RegisterRequest request) {
  if (control_ == nullptr) {
    auto connection = transport_->Connect(options_.scheduler_address);
    if (!connection.ok()) {
      return connection.status().WithContext(options_.name + ": reaching the scheduler");
    }
    control_ = std::make_unique<net::RpcClient>(std::move(connection).value(), options_.name);
  }
  if (request.name().empty()) request.set_name(options_.name);
  proto::Envelope envelope;
  *envelope.mutable_register_request() = std::move(request);
  auto reply = control_->Call(std::move(envelope), {}, Deadline::After(options_.rpc_timeout));
  if (!reply.ok()) {
    return reply.status().WithContext(options_.name + ": registering with the scheduler at " +
                                      options_.scheduler_address);
  }
  const proto::RegisterResponse& response = reply->header.register_response();
  node_id_ = response.node_id();
  if (response.heartbeat_interval_ms() > 0) {
    heartbeat_interval_ = Duration(response.heartbeat_interval_ms());
  }
  return node_id_;
}

void SchedulerClient::StartHeartbeats(std::function<void(proto::Heartbeat*)> stats) {
  CHECK_GE(node_id_, 0) << "StartHeartbeats before a successful Register";
  CHECK(!heartbeat_thread_.joinable()) << "StartHeartbeats called twice";
  auto connection = transport_->Connect(options_.scheduler_address);
  if (!connection.ok()) {
    RequestShutdown("cannot reach the scheduler at " + options_.scheduler_address +
                    " for heartbeats: " + connection.status().ToString());
    return;
  }
  auto rpc = std::make_unique<net::RpcClient>(std::move(connection).value(),
                                              options_.name + "/heartbeat");
  stats_ = stats;
  heartbeat_thread_ = std::thread(&SchedulerClient::HeartbeatLoop, this, std::move(rpc),
                                  std::move(stats));
}

void SchedulerClient::HeartbeatLoop(std::unique_ptr<net::RpcClient> rpc,
                                    std::function<void(proto::Heartbeat*)> stats) {
  // One heartbeat may wait about one interval for its answer (at least
  // 250 ms, so a busy machine is not mistaken for a dead scheduler), which
  // also bounds how long destruction waits for this thread.
  const Duration reply_timeout =
      std::min(options_.rpc_timeout, std::max(heartbeat_interval_, Duration(250)));
  int missed = 0;
  Status last_error;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (wake_.wait_for(lock, heartbeat_interval_, [this] { return stopping_; })) break;
    lock.unlock();
    proto::Envelope envelope;
    proto::Heartbeat* heartbeat = envelope.mutable_heartbeat();
    if (stats) stats(heartbeat);
    heartbeat->set_node_id(node_id_);
    auto reply = rpc->Call(std::move(envelope), {}, Deadline::After(reply_timeout));
    if (reply.ok()) {
      missed = 0;
      if (reply->header.heartbeat_response().shutdown()) {
        VLOG(1) << options_.name << ": the scheduler ended the job";
        RequestShutdown("");
        return;
      }
    } else {
      last_error = reply.status();
      if (++missed >= options_.max_missed_heartbeats) {
        RequestShutdown("the scheduler at " + options_.scheduler_address + " did not answer " +
                        std::to_string(missed) + " heartbeats in a row (last error: " +
                        last_error.ToString() + "); it has probably exited or crashed");
        return;
      }
      VLOG(1) << options_.name << ": heartbeat " << missed << " missed: " << last_error;
    }
    lock.lock();
  }
}

StatusOr<proto::BarrierResponse> SchedulerClient::Barrier(const std::string& name,
                                                          Deadline deadline) {
  if (control_ == nullptr || node_id_ < 0) {
    return FailedPreconditionError(options_.name + ": Barrier('" + name + "') before Register");
  }
  proto::Envelope envelope;
  envelope.mutable_barrier_request()->set_node_id(node_id_);
  envelope.mutable_barrier_request()->set_name(name);
  auto reply = CallWhileRunning(std::move(envelope), deadline);
  if (!reply.ok()) {
    return reply.status().WithContext(options_.name + ": barrier '" + name + "'");
  }
  return reply->header.barrier_response();
}

StatusOr<proto::SyncResponse> SchedulerClient::Sync(proto::SyncRequest request,
                                                    Deadline deadline) {
  if (control_ == nullptr || node_id_ < 0) {
    return FailedPreconditionError(options_.name + ": Sync before Register");
  }
  request.set_node_id(node_id_);
  proto::Envelope envelope;
  *envelope.mutable_sync_request() = std::move(request);
  auto reply = CallWhileRunning(std::move(envelope), deadline);
  if (!reply.ok()) return reply.status().WithContext(options_.name + ": elastic sync");
  return reply->header.sync_response();
}

StatusOr<net::RpcReply> SchedulerClient::CallWhileRunning(proto::Envelope request,
                                                          Deadline deadline) {
  // A barrier or sync waits as long as the slowest worker (minutes); the
  // heartbeat thread notices a dead scheduler within a few intervals, and
  // the wait stops at its next poll after that.
  constexpr Duration kPoll = Duration(200);
  IAK_ASSIGN_OR_RETURN(const uint64_t id, control_->Send(std::move(request)));
  IAK_ASSIGN_OR_RETURN(
      std::optional<net::RpcReply> reply,
      control_->AwaitUnless(id, deadline, [this] { return shutdown_.load(); }, kPoll));
  if (reply.has_value()) return std::move(*reply);
  const std::string reason = shutdown_reason();
  return UnavailableError("stopped waiting for the scheduler: " +
                          (reason.empty() ? std::string("the job ended") : reason));
}

StatusOr<proto::ScaleResponse> SchedulerClient::Scale(net::Transport* transport,
                                                      const std::string& address,
                                                      int num_workers, Deadline deadline) {
  auto connection = transport->Connect(address);
  if (!connection.ok()) return connection.status().WithContext("reaching the scheduler");
  net::RpcClient rpc(std::move(connection).value(), "scale");
  proto::Envelope envelope;
  envelope.mutable_scale_request()->set_num_workers(num_workers);
  auto reply = rpc.Call(std::move(envelope), {}, deadline);
  if (!reply.ok()) {
    return reply.status().WithContext("scaling the job of the scheduler at " + address);
  }
  return reply->header.scale_response();
}

Status SchedulerClient::Deregister(const std::string& error) {
  if (control_ == nullptr || node_id_ < 0) {
    return FailedPreconditionError(options_.name + ": Deregister before Register");
  }
  // No heartbeat may follow the deregistration.
  StopHeartbeats();
  if (error.empty() && stats_ && !shutdown_.load()) {
    // Best effort: a lost last heartbeat only leaves older figures.
    proto::Envelope last;
    stats_(last.mutable_heartbeat());
    last.mutable_heartbeat()->set_node_id(node_id_);
    auto beat = control_->Call(std::move(last), {}, Deadline::After(options_.rpc_timeout));
    if (!beat.ok()) VLOG(1) << options_.name << ": last heartbeat: " << beat.status();
  }
  proto::Envelope envelope;
  envelope.mutable_deregister()->set_node_id(node_id_);
  envelope.mutable_deregister()->set_error(error);
  auto reply = control_->Call(std::move(envelope), {}, Deadline::After(options_.rpc_timeout));
  if (!reply.ok()) {
    return reply.status().WithContext(options_.name + ": deregistering from the scheduler at " +
                                      options_.scheduler_address);
  }
  return Status::Ok();
}

std::string SchedulerClient::shutdown_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_reason_;
}

void SchedulerClient::RequestShutdown(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_reason_.empty()) shutdown_reason_ = reason;
  }
  if (!reason.empty()) LOG(WARNING) << options_.name << ": shutting down: " << reason;
  shutdown_.store(true);
}

void SchedulerClient::StopHeartbeats() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

}  // namespace iak::scheduler
