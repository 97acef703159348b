#include "scheduler/scheduler.h"

#include <algorithm>
#include <iomanip>
#include <optional>
#include <sstream>
#include <utility>

#include "scheduler/phase_name.h"

namespace iak::scheduler {
namespace {

std::string Seconds(std::chrono::steady_clock::duration d) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1)
      << std::chrono::duration_cast<std::chrono::duration<double>>(d).count() << " s";
  return out.str();
}

// "phase 1/2: compression, 200 steps, beta 0.01"
std::string DescribePhase(const proto::PhaseCommand& command, size_t index, size_t total) {
  std::ostringstream out;
  out << "phase " << index + 1 << "/" << total << ": " << PhaseName(command.phase()) << ", "
      << command.steps() << " steps, beta " << command.beta();
  if (command.learning_rate() > 0) out << ", learning rate " << command.learning_rate();
  return out.str();
}

std::string DefaultName(const proto::RegisterRequest& request) {
  if (!request.name().empty()) return request.name();
  return request.role() == proto::ROLE_SERVER ? "ps-" + std::to_string(request.shard())
                                              : "worker-" + std::to_string(request.rank());
}

// Where a node runs, for conflict messages: " on host h, pid 12" or "".
std::string Origin(const proto::RegisterRequest& request) {
  std::string out;
  if (!request.host().empty()) out += " on host " + request.host();
  if (request.pid() != 0) out += (out.empty() ? " pid " : ", pid ") + std::to_string(request.pid());
  return out;
}

bool SameRegistration(const proto::RegisterRequest& a, const proto::RegisterRequest& b) {
  return a.role() == b.role() && a.name() == b.name() && a.address() == b.address() &&
         a.shard() == b.shard() && a.replica() == b.replica() && a.rank() == b.rank() &&
         a.host() == b.host() &&
         a.pid() == b.pid();
}

// The node id a message sent on a node's behalf names, and what the
// message is (for the refusal when another process sends it).
struct NodeClaim {
  int node_id = -1;
  const char* what = "";
};

// nullopt for the messages that name no node (registration, store, ...).
std::optional<NodeClaim> ClaimOf(const proto::Envelope& request) {
  switch (request.body_case()) {
    case proto::Envelope::kHeartbeat:
      return NodeClaim{static_cast<int>(request.heartbeat().node_id()), "heartbeat"};
    case proto::Envelope::kBarrierRequest:
      return NodeClaim{static_cast<int>(request.barrier_request().node_id()), "barrier"};
    case proto::Envelope::kDeregister:
      return NodeClaim{static_cast<int>(request.deregister().node_id()), "deregistration"};
    case proto::Envelope::kSyncRequest:
      return NodeClaim{static_cast<int>(request.sync_request().node_id()), "sync"};
    default:
      return std::nullopt;
  }
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, net::Transport* transport)
    : options_(std::move(options)), transport_(transport) {
  CHECK(transport_ != nullptr);
  CHECK(options_.clock != nullptr);
  target_workers_ = options_.num_workers;
  if (elastic()) {
    collective::StoreServiceOptions store_options = options_.store;
    store_options.authorize_write = [this](const net::RpcCall& call) {
      return AuthorizeStoreWrite(call);
    };
    store_ = std::make_unique<collective::StoreService>(options_.clock, store_options);
  }
}

Scheduler::~Scheduler() = default;

Status Scheduler::Start() {
  CHECK(server_ == nullptr) << "Scheduler::Start called twice";
  if (options_.num_workers < 1) {
    return InvalidArgumentError("the job needs at least one worker, got num_workers=" +
                                std::to_string(options_.num_workers));
  }
  if (options_.num_servers < 0) {
    return InvalidArgumentError("num_servers must be >= 0, got " +
                                std::to_string(options_.num_servers));
  }
  for (size_t i = 0; i < options_.plan.size(); ++i) {
    const proto::Phase phase = options_.plan[i].phase();
    if (phase != proto::PHASE_COMPRESSION && phase != proto::PHASE_MATCHING) {
      return InvalidArgumentError("plan step " + std::to_string(i + 1) +
                                  " must be a compression or matching phase, got " +
                                  PhaseName(phase));
    }
  }
  if (options_.heartbeat_interval.count() <= 0 ||
      options_.heartbeat_timeout <= options_.heartbeat_interval) {
    return InvalidArgumentError("heartbeat_timeout (" +
                                std::to_string(options_.heartbeat_timeout.count()) +
                                " ms) must exceed heartbeat_interval (" +
                                std::to_string(options_.heartbeat_interval.count()) +
                                " ms), which must be positive");
  }
  if (elastic()) {
    const ElasticOptions& e = options_.elastic;
    if (e.min_workers < 1 || e.min_workers > options_.num_workers ||
        max_members() < options_.num_workers || e.sync_every_steps < 1 ||
        e.max_failed_rounds < 0) {
      return InvalidArgumentError(
          "elastic job: need 1 <= min_workers (" + std::to_string(e.min_workers) +
          ") <= num_workers (" + std::to_string(options_.num_workers) + ") <= max_workers (" +
          std::to_string(max_members()) + "), sync_every_steps >= 1 (" +
          std::to_string(e.sync_every_steps) + ") and max_failed_rounds >= 0 (" +
          std::to_string(e.max_failed_rounds) + ")");
    }
  }
  auto listener = transport_->Listen(options_.listen_address);
  if (!listener.ok()) return listener.status().WithContext("scheduler");
  net::RpcServerOptions server_options;
  server_options.name = "scheduler";
  server_ = std::make_unique<net::RpcServer>(std::move(listener).value(), server_options);
  address_ = server_->address();
  started_at_ = options_.clock->Now();
  LOG(INFO) << "scheduler listening on " << address_ << " for " << options_.num_servers
            << " servers and " << options_.num_workers << " workers, " << options_.plan.size()
            << " phases";
  return Status::Ok();
}

std::string Scheduler::address() const { return address_; }

Status Scheduler::Run(const std::atomic<bool>& stop) {
  if (server_ == nullptr) return FailedPreconditionError("Scheduler::Run before a successful Start");
  server_->Run(
      server_stop_, [this](net::RpcCall call) { Handle(std::move(call)); },
      [this, &stop] { Tick(stop); });
  for (const auto& [id, call] : waiting_) {
    ReplyError(call, UnavailableError("the scheduler is exiting"));
  }
  waiting_.clear();
  for (const auto& [id, call] : syncing_) {
    ReplyError(call, UnavailableError("the scheduler is exiting"));
  }
  syncing_.clear();
  switch (state_) {
    case State::kDone:
      LOG(INFO) << "job finished";
      if (options_.metrics != nullptr) options_.metrics->JobEnded("finished");
      return Status::Ok();
    case State::kFailed:
    case State::kCancelled:
      return outcome_;
    default:
      return UnavailableError("the scheduler's listener at " + address_ + " closed unexpectedly");
  }
}

bool Scheduler::FromOwner(const net::RpcCall& call, int node_id, const char* what) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return true;  // the handler refuses unknown nodes itself
  const Node& node = it->second;
  if (node.origin.empty() || node.origin == call.peer.origin) return true;
  uint64_t suppressed = 0;
  if (server_->log_limiter()->Allow(&suppressed)) {
    LOG(WARNING) << "refused a " << what << " for " << node.label << " from another process ("
                 << net::EscapeForLog(call.peer.origin) << ", calling itself '"
                 << call.request.sender() << "'); it registered from "
                 << net::EscapeForLog(node.origin) << net::SuppressedNote(suppressed);
  }
  ReplyError(call, FailedPreconditionError(
                       "refused: " + std::string(what) + " for " + node.label +
                       " sent by another process than the one that registered it"));
  return false;
}

Status Scheduler::AuthorizeStoreWrite(const net::RpcCall& call) const {
  if (call.peer.origin.empty()) return Status::Ok();  // in-process transport
  for (const auto& [id, node] : nodes_) {
    if (!node.left && node.info.role() == proto::ROLE_WORKER &&
        node.origin == call.peer.origin) {
      return Status::Ok();
    }
  }
  return FailedPreconditionError(
      "rendezvous store writes are taken only from registered workers of this job; '" +
      call.request.sender() + "' has not registered from its process");
}

void Scheduler::Handle(net::RpcCall call) {
  if (const std::optional<NodeClaim> claim = ClaimOf(call.request);
      claim.has_value() && claim->node_id >= 0 &&
      !FromOwner(call, claim->node_id, claim->what)) {
    return;
  }
  if (store_ != nullptr && store_->Handle(call, server_.get())) return;
  switch (call.request.body_case()) {
    case proto::Envelope::kSyncRequest:
      HandleSync(std::move(call));
      break;
    case proto::Envelope::kScaleRequest:
      HandleScale(call);
      break;
    case proto::Envelope::kRegisterRequest:
      HandleRegister(call);
      break;
    case proto::Envelope::kHeartbeat:
      HandleHeartbeat(call);
      break;
    case proto::Envelope::kBarrierRequest:
      HandleBarrier(std::move(call));
      break;
    case proto::Envelope::kDeregister:
      HandleDeregister(call);
      break;
    default:
      ReplyError(call, InvalidArgumentError("the scheduler does not serve request type " +
                                            std::to_string(call.request.body_case()) + " (from " +
                                            call.request.sender() + ")"));
  }
}

Status Scheduler::ValidateRegister(const proto::RegisterRequest& request,
                                   const std::string& origin, int* existing) const {
  *existing = -1;
  const std::string name = DefaultName(request);
  if (state_ != State::kRunning) {
    // Late, not the cause: name the job's cause so that the late node's error
    // (its log, its exit) reports it too.
    return FailedPreconditionError(
        name + " cannot join: the job is already over" +
        (outcome_.ok() ? std::string() : " (it stopped: " + outcome_.ToString() + ")"));
  }
  const std::map<int, int>* slots = nullptr;
  int slot = 0;
  if (request.role() == proto::ROLE_SERVER) {
    if (request.shard() < 0 || request.shard() >= options_.num_servers) {
      return InvalidArgumentError(name + " asked for shard " + std::to_string(request.shard()) +
                                  " but the job has " + std::to_string(options_.num_servers) +
                                  " shards (0.." + std::to_string(options_.num_servers - 1) +
                                  ")");
    }
    if (request.replica() < 0 || request.replica() >= replicas()) {
      return InvalidArgumentError(name + " asked for replica " + std::to_string(request.replica()) +
                                  " of shard " + std::to_string(request.shard()) +
                                  " but the job has " + std::to_string(replicas()) +
                                  " replica(s) per shard");
    }
    slot = request.shard() * replicas() + request.replica();
    if (request.address().empty()) {
      return InvalidArgumentError(name + " registered as a server without an address");
    }
    slots = &server_by_shard_;
  } else if (request.role() == proto::ROLE_WORKER && elastic()) {
    // No fixed rank: the scheduler assigns one per epoch. A retried request
    // gets its earlier id.
    for (const auto& [id, node] : nodes_) {
      if (!node.left && SameRegistration(node.info, request) && node.origin == origin) {
        *existing = id;
      }
    }
    return *existing >= 0 ? Status::Ok() : CheckRoomForWorker(name);
  } else if (request.role() == proto::ROLE_WORKER) {
    slot = request.rank();
    if (slot < 0 || slot >= options_.num_workers) {
      return InvalidArgumentError(name + " asked for rank " + std::to_string(slot) +
                                  " but the job has " + std::to_string(options_.num_workers) +
                                  " workers (ranks 0.." +
                                  std::to_string(options_.num_workers - 1) + ")");
    }
    slots = &worker_by_rank_;
  } else {
    return InvalidArgumentError(name + " registered with role " +
                                proto::Role_Name(request.role()) +
                                "; only servers and workers register");
  }
  auto it = slots->find(slot);
  if (it == slots->end()) return Status::Ok();
  const Node& holder = nodes_.at(it->second);
  // A restarted replica takes the place of the one that was dropped.
  if (holder.left && request.role() == proto::ROLE_SERVER) return Status::Ok();
  // A retry of a request whose reply was lost, from the same process; the
  // same request from another process is a second claim, refused below.
  if (SameRegistration(holder.info, request) && !holder.left && holder.origin == origin) {
    *existing = holder.id;
    return Status::Ok();
  }
  const bool server = request.role() == proto::ROLE_SERVER;
  const std::string what =
      server ? "shard " + std::to_string(request.shard()) +
                   (replicas() > 1 ? " replica " + std::to_string(request.replica()) : "")
             : "rank " + std::to_string(slot);
  return Status(StatusCode::kAlreadyExists,
                what +
                    " is already taken by " + holder.label + Origin(holder.info) + "; " + name +
                    Origin(request) + " cannot have it too: check the " +
                    (server ? "--shard" : "--rank") + " of each " +
                    (server ? "server" : "worker"));
}

void Scheduler::HandleRegister(const net::RpcCall& call) {
  const proto::RegisterRequest& request = call.request.register_request();
  int id = -1;
  Status valid = ValidateRegister(request, call.peer.origin, &id);
  if (!valid.ok()) {
    uint64_t suppressed = 0;
    if (server_->log_limiter()->Allow(&suppressed)) {
      LOG(WARNING) << "refused registration from " << net::EscapeForLog(call.peer.origin)
                   << ": " << valid << net::SuppressedNote(suppressed);
    }
    ReplyError(call, valid);
    return;
  }
  if (id < 0) {
    id = next_node_id_++;
    Node& node = nodes_[id];
    node.id = id;
    node.info = request;
    node.info.set_name(net::EscapeForLog(DefaultName(request), 64));
    node.origin = call.peer.origin;
    node.label = node.info.name() + " (node " + std::to_string(id) + ")";
    if (options_.metrics != nullptr) {
      options_.metrics->NodeRegistered(node.info.name(), request.role());
    }
    if (request.role() == proto::ROLE_SERVER) {
      server_by_shard_[request.shard() * replicas() + request.replica()] = id;
      LOG(INFO) << node.label << " registered: shard " << request.shard() << " at "
                << request.address() << Origin(request);
    } else if (elastic()) {
      LOG(INFO) << node.label << " registered (elastic; rank at its first sync)"
                << Origin(request);
    } else {
      worker_by_rank_[request.rank()] = id;
      LOG(INFO) << node.label << " registered: rank " << request.rank() << Origin(request);
    }
    ForgetOldLeftNodes();
  }
  nodes_[id].last_seen = options_.clock->Now();
  proto::Envelope reply;
  reply.mutable_register_response()->set_node_id(id);
  reply.mutable_register_response()->set_heartbeat_interval_ms(
      options_.heartbeat_interval.count());
  Reply(call, std::move(reply));
  if (elastic()) {
    MaybeCompleteSync();  // a late server may be what the workers wait for
  } else {
    MaybeCompleteBarrier();
  }
}

void Scheduler::HandleHeartbeat(const net::RpcCall& call) {
  auto it = nodes_.find(call.request.heartbeat().node_id());
  const bool shutdown = ShuttingDown();
  if (it == nodes_.end() && !shutdown) {
    ReplyError(call, NotFoundError("node " + std::to_string(call.request.heartbeat().node_id()) +
                                   " (" + call.request.sender() +
                                   ") is not registered with this scheduler; was the "
                                   "scheduler restarted?"));
    return;
  }
  if (it != nodes_.end()) {
    it->second.last_seen = options_.clock->Now();
    if (shutdown) it->second.told_shutdown = true;
    if (options_.metrics != nullptr) {
      options_.metrics->Heartbeat(it->second.info.name(), call.request.heartbeat(),
                                  it->second.last_seen);
    }
  }
  proto::Envelope reply;
  reply.mutable_heartbeat_response()->set_shutdown(shutdown);
  Reply(call, std::move(reply));
}

void Scheduler::HandleBarrier(net::RpcCall call) {
  const proto::BarrierRequest& request = call.request.barrier_request();
  if (elastic()) {
    ReplyError(call, FailedPreconditionError(
                         call.request.sender() +
                         " sent a barrier to an elastic job; elastic workers sync "
                         "(docs/elastic.md): run the worker with the job's elastic spec"));
    return;
  }
  if (state_ == State::kFailed || state_ == State::kCancelled) {
    ReplyError(call, outcome_);
    return;
  }
  auto it = nodes_.find(request.node_id());
  if (it == nodes_.end() || it->second.info.role() != proto::ROLE_WORKER || it->second.left) {
    ReplyError(call, InvalidArgumentError("node " + std::to_string(request.node_id()) + " (" +
                                          call.request.sender() +
                                          ") is not a registered worker; only workers "
                                          "take part in barriers"));
    return;
  }
  const Node& node = it->second;
  if (state_ != State::kRunning) {  // the plan is over: nothing left to wait for
    proto::PhaseCommand finished;
    finished.set_phase(proto::PHASE_FINISHED);
    proto::Envelope reply;
    *reply.mutable_barrier_response() = BarrierReply(finished);
    Reply(call, std::move(reply));
    return;
  }
  // A worker asking again (its earlier call timed out) replaces its old call.
  waiting_.erase(node.id);
  if (waiting_.empty()) {
    barrier_name_ = request.name();
  } else if (request.name() != barrier_name_) {
    const Node& first = nodes_.at(waiting_.begin()->first);
    ReplyError(call, InvalidArgumentError(
                         "barrier #" + std::to_string(barrier_index_) + ": " + node.label +
                         " arrived at '" + request.name() + "' but " + first.label +
                         " is waiting at '" + barrier_name_ +
                         "'; all workers must run the same phase sequence"));
    return;
  }
  VLOG(1) << node.label << " reached barrier '" << request.name() << "' (#" << barrier_index_
          << ")";
  waiting_.emplace(node.id, std::move(call));
  MaybeCompleteBarrier();
}

void Scheduler::HandleDeregister(const net::RpcCall& call) {
  auto it = nodes_.find(call.request.deregister().node_id());
  if (it == nodes_.end()) {
    ReplyError(call, NotFoundError("node " + std::to_string(call.request.deregister().node_id()) +
                                   " (" + call.request.sender() + ") is not registered"));
    return;
  }
  Node& node = it->second;
  const bool was_left = node.left;
  node.left = true;
  proto::Envelope reply;
  reply.mutable_ack();
  Reply(call, std::move(reply));
  if (was_left) return;
  HandleLeft(node, call.request.deregister().error());
  ForgetOldLeftNodes();
}

void Scheduler::HandleLeft(Node& node, const std::string& raw_error) {
  LOG(INFO) << node.label << " deregistered";
  if (options_.metrics != nullptr) options_.metrics->NodeLeft(node.info.name());
  const proto::Role role = node.info.role();
  if (elastic() && role == proto::ROLE_WORKER) {
    const std::string error = net::EscapeForLog(raw_error, 1024);
    if (state_ == State::kRunning && (!node.told_leave || !error.empty())) {
      if (epoch_ == 0 && !error.empty()) {
        failed_before_first_epoch_.push_back(node.label + ": " + error);
      }
      node.left = false;  // DropWorker marks it and records why
      DropWorker(node.id, error.empty() ? "deregistered without being told to leave"
                                        : "left with error: " + error);
      MaybeCompleteSync();
    } else {
      // Told to leave, or the job is over: it leaves every list, and a sync
      // it left waiting is answered (a left node neither waits nor joins).
      members_.erase(std::remove(members_.begin(), members_.end(), node.id), members_.end());
      join_order_.erase(std::remove(join_order_.begin(), join_order_.end(), node.id),
                        join_order_.end());
      auto waiting = syncing_.find(node.id);
      if (waiting != syncing_.end()) {
        ReplyError(waiting->second, FailedPreconditionError(node.label + " left the job"));
        syncing_.erase(waiting);
      }
    }
    if (state_ == State::kFinished && AllLeft(proto::ROLE_WORKER)) {
      state_ = State::kDone;
      ended_at_ = options_.clock->Now();
      LOG(INFO) << "all workers finished; telling servers to shut down";
    }
    return;
  }
  if (state_ == State::kRunning && role == proto::ROLE_SERVER &&
      ShardHasOtherLiveReplica(node.info.shard(), node.id, options_.clock->Now())) {
    LOG(WARNING) << node.label << " left; shard " << node.info.shard()
                 << " is served by its other replica(s)";
    return;
  }
  if (state_ == State::kRunning ||
      (state_ == State::kFinished && role == proto::ROLE_SERVER)) {
    End(State::kFailed, FailedPreconditionError(
                            node.label + " deregistered before the job finished; " +
                            (role == proto::ROLE_SERVER ? "workers still need its shard"
                                                        : "the other workers cannot pass "
                                                          "the next barrier without it") +
                            (raw_error.empty()
                                 ? "; see that node's log for why it stopped"
                                 : "; it reported: " + net::EscapeForLog(raw_error, 1024))));
    return;
  }
  if (state_ == State::kFinished && AllLeft(proto::ROLE_WORKER)) {
    state_ = State::kDone;
    ended_at_ = options_.clock->Now();
    LOG(INFO) << "all " << options_.num_workers
              << " workers finished; telling servers to shut down";
  }
}

void Scheduler::ForgetOldLeftNodes() {
  size_t left = 0;
  for (const auto& [id, node] : nodes_) left += node.left ? 1 : 0;
  // nodes_ is ordered by id, i.e. by registration: the oldest go first.
  for (auto it = nodes_.begin(); it != nodes_.end() && left > kMaxLeftNodes;) {
    if (it->second.left && !Referenced(it->first)) {
      VLOG(1) << "forgetting " << it->second.label << ", which left";
      it = nodes_.erase(it);
      --left;
    } else {
      ++it;
    }
  }
}

bool Scheduler::Referenced(int id) const {
  auto holds = [id](const std::map<int, int>& slots) {
    return std::any_of(slots.begin(), slots.end(),
                       [id](const auto& slot) { return slot.second == id; });
  };
  auto lists = [id](const std::vector<int>& ids) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  // epoch_members_ and needs_state_ are only compared with, never looked up.
  return holds(server_by_shard_) || holds(worker_by_rank_) || lists(members_) ||
         lists(join_order_) || waiting_.count(id) != 0 || syncing_.count(id) != 0;
}

void Scheduler::MaybeCompleteBarrier() {
  if (state_ != State::kRunning) return;
  if (static_cast<int>(waiting_.size()) < options_.num_workers) return;
  // Hand out only live servers: drop replicas that died since the last tick.
  CheckLiveness(options_.clock->Now());
  if (state_ != State::kRunning) return;
  if (static_cast<int>(server_by_shard_.size()) < options_.num_servers * replicas()) return;
  proto::PhaseCommand command;
  if (barrier_index_ < options_.plan.size()) {
    command = options_.plan[barrier_index_];
    LOG(INFO) << "barrier '" << barrier_name_ << "' passed; "
              << DescribePhase(command, barrier_index_, options_.plan.size());
  } else {
    command.set_phase(proto::PHASE_FINISHED);
    command.set_steps(0);
    LOG(INFO) << "barrier '" << barrier_name_ << "' passed; all " << options_.plan.size()
              << " phases done, workers finish";
    state_ = State::kFinished;
  }
  if (options_.metrics != nullptr) {
    options_.metrics->PhaseStarted(static_cast<int>(barrier_index_), command.phase());
  }
  proto::Envelope reply;
  *reply.mutable_barrier_response() = BarrierReply(command);
  for (const auto& [id, call] : waiting_) Reply(call, reply);
  waiting_.clear();
  barrier_name_.clear();
  ++barrier_index_;
}

proto::BarrierResponse Scheduler::BarrierReply(const proto::PhaseCommand& command) const {
  proto::BarrierResponse response;
  for (const auto& [slot, id] : server_by_shard_) {  // std::map: sorted by shard, replica
    const Node& node = nodes_.at(id);
    if (node.left) continue;  // a dead replica; its shard still has another
    proto::ServerAddress* server = response.add_servers();
    server->set_shard(node.info.shard());
    server->set_replica(node.info.replica());
    server->set_address(node.info.address());
    server->set_name(node.info.name());
  }
  *response.mutable_command() = command;
  return response;
}

void Scheduler::End(State state, Status status) {
  CHECK(state == State::kFailed || state == State::kCancelled);
  if (ShuttingDown()) return;
  state_ = state;
  outcome_ = status;
  ended_at_ = options_.clock->Now();
  LOG(ERROR) << "job stopped: " << outcome_;
  if (options_.on_stopped) options_.on_stopped(outcome_);
  if (options_.metrics != nullptr) {
    options_.metrics->JobEnded(state == State::kFailed ? "failed" : "cancelled");
  }
  for (const auto& [id, call] : waiting_) ReplyError(call, outcome_);
  waiting_.clear();
  for (const auto& [id, call] : syncing_) ReplyError(call, outcome_);
  syncing_.clear();
}

void Scheduler::Tick(const std::atomic<bool>& stop) {
  const TimePoint now = options_.clock->Now();
  if (store_ != nullptr) store_->Tick(server_.get());
  if (stop.load()) {
    if (state_ == State::kRunning || state_ == State::kFinished) {
      End(State::kCancelled,
          CancelledError("the scheduler was stopped before the job finished; all nodes "
                         "were told to shut down"));
    } else if (state_ != State::kCancelled) {
      server_stop_ = true;  // stopped again while draining: leave now
      return;
    }
  }
  switch (state_) {
    case State::kRunning:
      CheckStartup(now);
      if (state_ == State::kRunning) CheckLiveness(now);
      if (elastic()) MaybeCompleteSync();
      break;
    case State::kFinished:
      CheckLiveness(now);
      if (elastic() && AllLeft(proto::ROLE_WORKER)) {  // the last ones died after finishing
        state_ = State::kDone;
        ended_at_ = now;
      }
      break;
    case State::kDone:
      if (AllLeft(proto::ROLE_SERVER)) {
        server_stop_ = true;
      } else if (now - ended_at_ >= options_.shutdown_grace) {
        LOG(WARNING) << "not every server deregistered within " << Seconds(options_.shutdown_grace)
                     << "; exiting anyway";
        server_stop_ = true;
      }
      break;
    case State::kFailed:
    case State::kCancelled:
      if (AllLiveNodesTold(now) ||
          now - ended_at_ >= std::min(options_.shutdown_grace, 3 * options_.heartbeat_interval)) {
        server_stop_ = true;
      }
      break;
  }
}

void Scheduler::CheckStartup(TimePoint now) {
  const bool all_in =
      static_cast<int>(server_by_shard_.size()) == options_.num_servers * replicas() &&
      (elastic() ? epoch_ > 0
                 : static_cast<int>(worker_by_rank_.size()) == options_.num_workers);
  if (all_in || now - started_at_ < options_.startup_timeout) return;
  // An elastic job starts short rather than fail: an initial worker that
  // died before the first sync must not stop the others (docs/elastic.md).
  const int waiting = static_cast<int>(syncing_.size());
  if (elastic() &&
      static_cast<int>(server_by_shard_.size()) == options_.num_servers * replicas() &&
      waiting >= std::max(1, options_.elastic.min_workers)) {
    if (!start_with_waiting_) {
      LOG(WARNING) << "startup timeout (" << Seconds(options_.startup_timeout) << "): "
                   << waiting << " of " << target_workers_
                   << " elastic workers are waiting; the first epoch forms with them";
    }
    start_with_waiting_ = true;
    return;
  }
  std::string missing;
  auto add = [&missing](const std::string& what) {
    missing += (missing.empty() ? "" : ", ") + what;
  };
  for (int shard = 0; shard < options_.num_servers; ++shard) {
    for (int replica = 0; replica < replicas(); ++replica) {
      if (server_by_shard_.count(shard * replicas() + replica) == 0) {
        add("server of shard " + std::to_string(shard) +
            (replicas() > 1 ? " replica " + std::to_string(replica) : ""));
      }
    }
  }
  if (elastic()) {
    add(std::to_string(options_.num_workers - static_cast<int>(join_order_.size())) + " of " +
        std::to_string(options_.num_workers) + " elastic workers (" +
        std::to_string(join_order_.size()) + " waiting at the first sync)");
  }
  for (int rank = 0; rank < options_.num_workers && !elastic(); ++rank) {
    if (worker_by_rank_.count(rank) == 0) add("worker of rank " + std::to_string(rank));
  }
  End(State::kFailed,
      DeadlineExceededError("not every node registered within " +
                            Seconds(options_.startup_timeout) + "; missing: " + missing +
                            "; did they start, and do they use scheduler address " + address_ +
                            "?"));
}

bool Scheduler::ShardHasOtherLiveReplica(int shard, int except, TimePoint now) const {
  for (const auto& [slot, id] : server_by_shard_) {
    const Node& node = nodes_.at(id);
    if (id == except || node.info.shard() != shard || node.left) continue;
    if (now - node.last_seen < options_.heartbeat_timeout) return true;
  }
  return false;
}

void Scheduler::CheckLiveness(TimePoint now) {
  std::string dead;
  for (auto& [id, node] : nodes_) {
    if (node.left || now - node.last_seen < options_.heartbeat_timeout) continue;
    if (options_.metrics != nullptr) options_.metrics->NodeDead(node.info.name());
    if (node.info.role() == proto::ROLE_SERVER &&
        ShardHasOtherLiveReplica(node.info.shard(), id, now)) {
      // Workers fail over to the shard's other replicas; the job goes on.
      LOG(WARNING) << node.label << " sent no heartbeat for " << Seconds(now - node.last_seen)
                   << "; dropped, shard " << node.info.shard() << " is served by its other "
                   << "replica(s)";
      node.left = true;
      continue;
    }
    if (elastic() && node.info.role() == proto::ROLE_WORKER) {
      DropWorker(id, "sent no heartbeat for " + Seconds(now - node.last_seen));
      continue;
    }
    dead += (dead.empty() ? "" : "; ") + node.label + " sent no heartbeat for " +
            Seconds(now - node.last_seen);
  }
  if (dead.empty()) return;
  End(State::kFailed, UnavailableError(dead +
                                       "; it crashed, hung or lost its network (see its log); "
                                       "the job is stopped"));
}

bool Scheduler::AllLiveNodesTold(TimePoint now) const {
  for (const auto& [id, node] : nodes_) {
    const bool dead = now - node.last_seen >= options_.heartbeat_timeout;
    if (!node.left && !dead && !node.told_shutdown) return false;
  }
  return true;
}

bool Scheduler::ShuttingDown() const {
  return state_ == State::kDone || state_ == State::kFailed || state_ == State::kCancelled;
}

bool Scheduler::AllLeft(proto::Role role) const {
  for (const auto& [id, node] : nodes_) {
    if (node.info.role() == role && !node.left) return false;
  }
  return true;
}

void Scheduler::Reply(const net::RpcCall& call, proto::Envelope reply) {
  Status sent = server_->Reply(call, std::move(reply));
  if (!sent.ok()) LOG(WARNING) << "reply to " << call.request.sender() << " lost: " << sent;
}

void Scheduler::ReplyError(const net::RpcCall& call, const Status& error) {
  Status sent = server_->ReplyError(call, error);
  if (!sent.ok()) LOG(WARNING) << "error reply to " << call.request.sender() << " lost: " << sent;
}

}  // namespace iak::scheduler
