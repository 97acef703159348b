// The elastic half of the Scheduler (docs/elastic.md, "Sync protocol"):
// membership epochs, sync points, joins, drops and scale requests.
#include <algorithm>
#include <string>
#include <utility>

#include "net/log_field.h"
#include "scheduler/scheduler.h"

namespace iak::scheduler {
namespace {

bool SamePosition(const proto::JobPosition& a, const proto::JobPosition& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// Dropped workers named in the job's error; earlier ones are counted.
constexpr size_t kMaxDroppedNoted = 16;

std::string Describe(const proto::JobPosition& p) {
  return "phase " + std::to_string(p.phase_index()) + " step " + std::to_string(p.phase_step()) +
         " (global step " + std::to_string(p.global_step()) + ")";
}

}  // namespace

ElasticOptions ElasticOptionsFor(const proto::JobSpec& spec) {
  ElasticOptions options;
  if (!spec.elastic().enabled()) return options;
  options.enabled = true;
  options.min_workers = spec.elastic().min_workers();
  options.max_workers = spec.elastic().max_workers();
  options.sync_every_steps = spec.elastic().sync_every_steps();
  if (spec.elastic().max_failed_rounds() > 0) {
    options.max_failed_rounds = spec.elastic().max_failed_rounds();
  }
  return options;
}

int Scheduler::max_members() const {
  return options_.elastic.max_workers > 0 ? options_.elastic.max_workers : options_.num_workers;
}

Status Scheduler::CheckRoomForWorker(const std::string& name) const {
  int live = 0;
  for (const auto& [id, node] : nodes_) {
    if (!node.left && node.info.role() == proto::ROLE_WORKER) ++live;
  }
  const int most = kRegisteredWorkersPerMember * max_members();
  if (live < most) return Status::Ok();
  const int members = static_cast<int>(members_.size());
  return FailedPreconditionError(
      name + " cannot join: the elastic job already holds " + std::to_string(live) +
      " live workers, the most it takes: elastic.max_workers=" + std::to_string(max_members()) +
      " members (" + std::to_string(members) + " now) and as many waiting to join or to replace "
      "one (" + std::to_string(live - members) + " others now); retry once a worker left or was "
      "dropped (a dead one is, heartbeat_timeout after its last heartbeat)");
}

void Scheduler::NoteDropped(std::string why) {
  dropped_.push_back(std::move(why));
  if (dropped_.size() > kMaxDroppedNoted) {
    dropped_.erase(dropped_.begin());
    ++dropped_earlier_;
  }
}

void Scheduler::HandleSync(net::RpcCall call) {
  const proto::SyncRequest& request = call.request.sync_request();
  if (!elastic()) {
    ReplyError(call, FailedPreconditionError(call.request.sender() +
                                             " sent a sync to a job that is not elastic; "
                                             "set elastic.enabled in the job spec"));
    return;
  }
  if (state_ == State::kFailed || state_ == State::kCancelled || state_ == State::kDone) {
    ReplyError(call, outcome_.ok() ? FailedPreconditionError("the job is over") : outcome_);
    return;
  }
  auto it = nodes_.find(request.node_id());
  if (it == nodes_.end() || it->second.info.role() != proto::ROLE_WORKER || it->second.left) {
    ReplyError(call, FailedPreconditionError(
                         "node " + std::to_string(request.node_id()) + " (" +
                         call.request.sender() +
                         ") is not a live worker of this job (dropped or never registered); "
                         "restart it to rejoin as a new worker"));
    return;
  }
  Node& node = it->second;
  node.last_seen = options_.clock->Now();
  if (state_ == State::kFinished) {
    proto::Envelope reply;
    proto::SyncResponse* response = reply.mutable_sync_response();
    response->set_action(proto::SyncResponse::ACTION_FINISH);
    response->set_membership_epoch(epoch_);
    response->set_rank(-1);
    *response->mutable_position() = committed_;
    Reply(call, std::move(reply));
    return;
  }
  if (!request.failure().empty()) {
    LOG(WARNING) << node.label << " reports a failed collective in epoch "
                 << request.membership_epoch() << ": " << net::EscapeForLog(request.failure(), 1024);
  }
  const bool member = std::find(members_.begin(), members_.end(), node.id) != members_.end();
  if (!member &&
      std::find(join_order_.begin(), join_order_.end(), node.id) == join_order_.end()) {
    join_order_.push_back(node.id);
    if (epoch_ > 0) LOG(INFO) << node.label << " asks to join; admitted at the next sync";
  }
  syncing_.erase(node.id);  // a retried sync replaces the old call
  syncing_.emplace(node.id, std::move(call));
  MaybeCompleteSync();
}

void Scheduler::HandleScale(const net::RpcCall& call) {
  const int n = call.request.scale_request().num_workers();
  if (!elastic()) {
    ReplyError(call, FailedPreconditionError(
                         "this job is not elastic: it cannot be scaled while it runs; "
                         "submit it with elastic.enabled"));
    return;
  }
  if (ShuttingDown() || state_ == State::kFinished) {
    ReplyError(call, FailedPreconditionError("the job is over; nothing to scale"));
    return;
  }
  if (n < options_.elastic.min_workers || n > max_members()) {
    ReplyError(call, InvalidArgumentError(
                         "cannot scale to " + std::to_string(n) + " workers: the job allows " +
                         std::to_string(options_.elastic.min_workers) + ".." +
                         std::to_string(max_members()) +
                         " (elastic.min_workers..elastic.max_workers)"));
    return;
  }
  const int previous = target_workers_;
  target_workers_ = n;
  LOG(INFO) << "scale request from " << call.request.sender() << ": " << previous << " -> " << n
            << " workers; applied at the next sync";
  proto::Envelope reply;
  reply.mutable_scale_response()->set_previous_workers(previous);
  reply.mutable_scale_response()->set_target_workers(n);
  reply.mutable_scale_response()->set_membership_epoch(epoch_);
  Reply(call, std::move(reply));
  MaybeCompleteSync();
}

void Scheduler::DropWorker(int id, const std::string& why) {
  Node& node = nodes_.at(id);
  if (node.left) return;
  node.left = true;
  const bool member = std::find(members_.begin(), members_.end(), id) != members_.end();
  members_.erase(std::remove(members_.begin(), members_.end(), id), members_.end());
  join_order_.erase(std::remove(join_order_.begin(), join_order_.end(), id), join_order_.end());
  auto waiting = syncing_.find(id);
  if (waiting != syncing_.end()) {
    ReplyError(waiting->second, UnavailableError(node.label + " was dropped from the job: " + why));
    syncing_.erase(waiting);
  }
  if (options_.metrics != nullptr) options_.metrics->NodeLeft(node.info.name());
  if (state_ != State::kRunning) return;
  NoteDropped(node.label + ": " + why);
  LOG(WARNING) << node.label << " dropped from epoch " << epoch_ << " (" << why << "); "
               << members_.size() << " member(s) remain"
               << (member ? "; the next sync forms an epoch without it" : "");
}

void Scheduler::MaybeCompleteSync() {
  if (!elastic() || state_ != State::kRunning) return;
  // Before the first epoch: workers that left with an error (they will not
  // sync) leave too few to ever form it. Fail now rather than at
  // startup_timeout. (A worker started later by `iak scale` could still
  // arrive, but the job's own initial workers already said why they cannot.)
  const int needed = std::max(1, options_.elastic.min_workers);
  if (epoch_ == 0 && !failed_before_first_epoch_.empty() &&
      options_.num_workers - static_cast<int>(failed_before_first_epoch_.size()) < needed) {
    std::string names;
    for (const std::string& f : failed_before_first_epoch_) {
      names += (names.empty() ? "" : "; ") + f;
    }
    End(State::kFailed,
        FailedPreconditionError(
            "elastic job: " + std::to_string(failed_before_first_epoch_.size()) + " of " +
            std::to_string(options_.num_workers) +
            " worker(s) left with an error before the first membership epoch formed, so fewer "
            "than elastic.min_workers=" + std::to_string(needed) +
            " can join it: " + names + "; fix the cause and resubmit the job"));
    return;
  }
  if (static_cast<int>(server_by_shard_.size()) < options_.num_servers * replicas()) return;
  if (epoch_ == 0 && start_with_waiting_) {
    // Past the startup timeout with at least min_workers waiting (CheckStartup).
    if (static_cast<int>(syncing_.size()) < std::max(1, options_.elastic.min_workers)) return;
  } else if (epoch_ == 0) {
    // The first epoch forms once the initial workers are all waiting: the
    // ones with rank hints 0..num_workers-1 when any such hint is given (as
    // launchers start them), else any num_workers workers.
    if (static_cast<int>(syncing_.size()) < target_workers_) return;
    std::vector<bool> hinted(static_cast<size_t>(target_workers_), false);
    bool any_hint = false;
    for (const auto& [id, call] : syncing_) {
      const int hint = nodes_.at(id).info.rank();
      if (hint >= 0 && hint < target_workers_) hinted[static_cast<size_t>(hint)] = any_hint = true;
    }
    if (any_hint && std::find(hinted.begin(), hinted.end(), false) != hinted.end()) return;
  } else {
    if (static_cast<int>(members_.size()) < options_.elastic.min_workers) {
      std::string names;
      for (const std::string& d : dropped_) names += (names.empty() ? "" : "; ") + d;
      if (dropped_earlier_ > 0) {
        names += "; and " + std::to_string(dropped_earlier_) + " dropped before them";
      }
      End(State::kFailed,
          UnavailableError("elastic job: " + std::to_string(members_.size()) +
                           " live worker(s) left, below elastic.min_workers=" +
                           std::to_string(options_.elastic.min_workers) +
                           "; dropped workers: " + names + "; the job is stopped"));
      return;
    }
    for (int id : members_) {
      if (syncing_.count(id) == 0) return;
    }
  }
  CompleteSync();
}

Scheduler::SyncOutcome Scheduler::AgreedPosition() const {
  // Every member reports its position; when all agree and none failed, that
  // is the new sync point; otherwise everyone rolls back to the last one
  // (the failed segment is redone). The failures' text comes from the
  // workers: escaped and bounded, as it goes into log lines and the job's
  // error.
  SyncOutcome outcome;
  outcome.position = committed_;
  std::string differing;
  for (size_t i = 0; i < members_.size(); ++i) {
    const std::string& label = nodes_.at(members_[i]).label;
    const proto::SyncRequest& request = syncing_.at(members_[i]).request.sync_request();
    if (!request.failure().empty()) {
      outcome.restore = true;
      outcome.why += (outcome.why.empty() ? "" : "; ") + label + ": " +
                     net::EscapeForLog(request.failure(), 512);
    }
    if (i == 0) {
      outcome.position = request.position();
    } else if (!SamePosition(request.position(), outcome.position) && differing.empty()) {
      differing = label + ": members report different positions: it is at " +
                  Describe(request.position()) + ", rank 0 at " + Describe(outcome.position);
    }
  }
  if (!differing.empty()) {
    outcome.restore = true;
    if (outcome.why.empty()) outcome.why = differing;
  }
  if (outcome.restore) outcome.position = committed_;
  return outcome;
}

bool Scheduler::EndedForNoProgress(const SyncOutcome& outcome) {
  if (!outcome.restore) {
    if (!SamePosition(outcome.position, committed_)) failed_rounds_ = 0;
    return false;
  }
  ++failed_rounds_;
  if (failed_rounds_ <= options_.elastic.max_failed_rounds) {
    LOG(WARNING) << "sync: failed round " << failed_rounds_ << " of at most "
                 << options_.elastic.max_failed_rounds << " retried at " << Describe(committed_)
                 << " (elastic.max_failed_rounds)";
    return false;
  }
  // The same members fail again at the same point, epoch after epoch, while
  // their heartbeats keep them in the job: retrying cannot help.
  End(State::kFailed,
      UnavailableError("elastic job: " + std::to_string(failed_rounds_) +
                       " consecutive membership epochs failed at " + Describe(committed_) +
                       " without progress (elastic.max_failed_rounds=" +
                       std::to_string(options_.elastic.max_failed_rounds) +
                       "); last failure from " + outcome.why +
                       "; check the workers' gloo_hostname (reachable from every other "
                       "worker) and GPUs, fix the cause and resubmit the job"));
  return true;
}

void Scheduler::ChooseMembers(SyncOutcome* outcome) const {
  // The survivors in their order, the highest ranks told to leave when above
  // the target, then joiners by arrival.
  outcome->next = members_;
  while (static_cast<int>(outcome->next.size()) > target_workers_) {
    outcome->leaving.push_back(outcome->next.back());
    outcome->next.pop_back();
  }
  std::vector<int> candidates;
  for (int id : join_order_) {
    if (syncing_.count(id) != 0) candidates.push_back(id);
  }
  if (members_.empty()) {
    // The first epoch: ranks follow the workers' rank hints; workers
    // without one (or out of range) come last, by arrival.
    auto key = [this](int id) {
      const int hint = nodes_.at(id).info.rank();
      return hint >= 0 && hint < target_workers_ ? hint : target_workers_;
    };
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&key](int a, int b) { return key(a) < key(b); });
  }
  for (int id : candidates) {
    if (static_cast<int>(outcome->next.size()) >= std::min(target_workers_, max_members())) {
      break;
    }
    outcome->next.push_back(id);
    outcome->joining.push_back(id);
  }
}

void Scheduler::ChooseReceivers(SyncOutcome* outcome) const {
  // The joiners, and after a failed round also the members admitted at the
  // previous sync (their received state was never confirmed by a completed
  // segment).
  outcome->receivers = outcome->joining;
  const std::vector<int>& next = outcome->next;
  if (members_.empty()) {
    // The first epoch starts where its rank 0 stands: the beginning, or the
    // checkpoint a resumed job's workers loaded (docs/elastic.md,
    // "Checkpoints of elastic jobs"). A member that reports another position
    // (it found no or another checkpoint) receives rank 0's state.
    outcome->receivers.clear();
    if (!next.empty()) {
      outcome->position = syncing_.at(next.front()).request.sync_request().position();
      for (size_t i = 1; i < next.size(); ++i) {
        if (!SamePosition(syncing_.at(next[i]).request.sync_request().position(),
                          outcome->position)) {
          outcome->receivers.push_back(next[i]);
        }
      }
      if (outcome->position.global_step() > 0) {
        LOG(INFO) << "sync: the job resumes at " << Describe(outcome->position)
                  << " (reported by " << nodes_.at(next.front()).label
                  << ", rank 0 of the first epoch)"
                  << (outcome->receivers.empty()
                          ? ""
                          : "; " + std::to_string(outcome->receivers.size()) +
                                " member(s) at another position receive its state");
      }
    }
  }
  if (outcome->restore) {
    for (int id : needs_state_) {
      if (std::find(next.begin(), next.end(), id) != next.end()) {
        outcome->receivers.push_back(id);
      }
    }
  }
}

bool Scheduler::SyncOutcome::receives(int id) const {
  return std::find(receivers.begin(), receivers.end(), id) != receivers.end();
}

proto::SyncResponse Scheduler::SyncResponseFor(const SyncOutcome& outcome,
                                               bool finished) const {
  proto::SyncResponse base;
  base.set_membership_epoch(epoch_);
  base.set_size(static_cast<int>(outcome.next.size()));
  base.set_store_prefix("epoch-" + std::to_string(epoch_) + "/");
  for (int id : outcome.next) base.add_members(nodes_.at(id).info.name());
  *base.mutable_position() = outcome.position;
  base.set_broadcast_state(!outcome.receivers.empty());
  for (const auto& [slot, id] : server_by_shard_) {
    const Node& node = nodes_.at(id);
    if (node.left) continue;
    proto::ServerAddress* server = base.add_servers();
    server->set_shard(node.info.shard());
    server->set_replica(node.info.replica());
    server->set_address(node.info.address());
    server->set_name(node.info.name());
  }
  for (const proto::PhaseCommand& command : options_.plan) *base.add_plan() = command;
  base.set_sync_every_steps(options_.elastic.sync_every_steps);
  if (finished) base.set_action(proto::SyncResponse::ACTION_FINISH);
  return base;
}

void Scheduler::AnswerSync(const SyncOutcome& outcome, const proto::SyncResponse& base,
                           bool finished) {
  for (size_t rank = 0; rank < outcome.next.size(); ++rank) {
    const int id = outcome.next[rank];
    const bool joiner = outcome.receives(id);
    proto::Envelope reply;
    proto::SyncResponse* response = reply.mutable_sync_response();
    *response = base;
    if (!finished) response->set_action(proto::SyncResponse::ACTION_TRAIN);
    response->set_rank(static_cast<int>(rank));
    response->set_restore(outcome.restore && !joiner);
    response->set_receive_state(joiner);
    Reply(syncing_.at(id), std::move(reply));
    syncing_.erase(id);
  }
  for (int id : outcome.leaving) {
    Node& node = nodes_.at(id);
    node.told_leave = true;
    LOG(INFO) << node.label << " told to leave (scaled to " << target_workers_ << ")";
    proto::Envelope reply;
    *reply.mutable_sync_response() = base;
    reply.mutable_sync_response()->set_action(finished ? proto::SyncResponse::ACTION_FINISH
                                                       : proto::SyncResponse::ACTION_LEAVE);
    reply.mutable_sync_response()->set_rank(-1);
    Reply(syncing_.at(id), std::move(reply));
    syncing_.erase(id);
  }
  for (int id : outcome.joining) {
    join_order_.erase(std::remove(join_order_.begin(), join_order_.end(), id), join_order_.end());
  }
  if (finished) {
    // Joiners still waiting have nothing left to do.
    for (auto& [id, call] : syncing_) {
      proto::Envelope reply;
      *reply.mutable_sync_response() = base;
      reply.mutable_sync_response()->set_rank(-1);
      Reply(call, std::move(reply));
    }
    syncing_.clear();
    join_order_.clear();
  }
}

void Scheduler::CompleteSync() {
  SyncOutcome outcome = AgreedPosition();
  if (EndedForNoProgress(outcome)) return;
  const bool had_state = !members_.empty();
  ChooseMembers(&outcome);
  ChooseReceivers(&outcome);
  const std::vector<int>& next = outcome.next;
  if (had_state && !next.empty() && outcome.receives(next.front())) {
    End(State::kFailed,
        UnavailableError("elastic job: every worker that held the job's state left or died "
                         "before the new ones received it; resubmit the job"));
    return;
  }
  if (static_cast<int>(next.size()) < options_.elastic.min_workers) {
    End(State::kFailed, UnavailableError("elastic job: " + std::to_string(next.size()) +
                                         " worker(s) for the next epoch, below "
                                         "elastic.min_workers=" +
                                         std::to_string(options_.elastic.min_workers)));
    return;
  }
  // A new group (new epoch, new key prefix) when the members changed, or
  // when the old group broke (a failed collective leaves it unusable).
  const bool changed = next != epoch_members_ || outcome.restore;
  if (changed) {
    if (epoch_ > 0) store_->ErasePrefix("epoch-" + std::to_string(epoch_) + "/");
    ++epoch_;
  }
  const proto::JobPosition& position = outcome.position;
  const bool finished = position.phase_index() >= static_cast<int>(options_.plan.size());
  if (options_.metrics != nullptr && !finished &&
      (!had_state || position.phase_index() != committed_.phase_index())) {
    options_.metrics->PhaseStarted(position.phase_index(),
                                   options_.plan[position.phase_index()].phase());
  }
  if (changed) {
    std::string names;
    for (int id : next) names += (names.empty() ? "" : ", ") + nodes_.at(id).info.name();
    LOG(INFO) << "sync: epoch " << epoch_ << " = [" << names << "] at " << Describe(position)
              << (outcome.restore ? "; rolled back to the last sync point (" + outcome.why + ")"
                                  : "")
              << (outcome.joining.empty() || !had_state
                      ? ""
                      : "; " + std::to_string(outcome.joining.size()) +
                            " joiner(s) receive the state");
  }
  if (finished) {
    state_ = State::kFinished;
    LOG(INFO) << "all " << options_.plan.size() << " phases done at global step "
              << position.global_step() << "; workers finish";
  }
  AnswerSync(outcome, SyncResponseFor(outcome, finished), finished);
  needs_state_ = outcome.receivers;
  members_ = next;
  epoch_members_ = next;
  committed_ = position;
}

}  // namespace iak::scheduler
