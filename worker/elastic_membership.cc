#include "worker/elastic_membership.h"

#include <algorithm>
#include <utility>

#include "collective/group_factory.h"

namespace iak::worker {
namespace {

using SteadyClock = std::chrono::steady_clock;

double MsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

}  // namespace

ElasticMembership::ElasticMembership(ElasticMembershipOptions options, net::Transport* transport,
                                     scheduler::SchedulerClient* scheduler)
    : options_(std::move(options)), transport_(transport), scheduler_(scheduler) {}

ElasticMembership::~ElasticMembership() = default;

StatusOr<Segment> ElasticMembership::Next(const SegmentReport& report) {
  const std::string& name = options_.name;
  proto::SyncRequest request;  // the first: joining, at no position (or the checkpoint's)
  if (!report.first) request.set_membership_epoch(epoch_);
  if (!report.first || report.resumed) *request.mutable_position() = report.position;
  if (!report.failure.empty()) {
    request.set_failure(report.failure);
    group_.reset();
    if (!recovering_) {
      recovering_ = true;
      failed_at_ = SteadyClock::now();
    }
    ElasticRecovery recovery;
    recovery.steps_lost = report.steps_done;
    recoveries_.push_back(recovery);
    awaiting_new_epoch_ = true;
  }
  if (store_ == nullptr) {
    collective::RpcStoreOptions store_options;
    store_options.self_name = name;
    IAK_ASSIGN_OR_RETURN(store_, collective::RpcStore::Connect(
                                     transport_, options_.scheduler_address, store_options));
  }
  for (;;) {
    if (scheduler_->shutdown_requested()) {
      return UnavailableError(name + ": the scheduler ended the job: " +
                              scheduler_->shutdown_reason());
    }
    if (options_.first_sync_sent != nullptr) options_.first_sync_sent->store(true);
    IAK_ASSIGN_OR_RETURN(proto::SyncResponse reply,
                         scheduler_->Sync(request, Deadline::After(options_.sync_timeout)));
    if (awaiting_new_epoch_) {
      awaiting_new_epoch_ = false;
      recoveries_.back().detect_ms = MsSince(failed_at_);
      recoveries_.back().members = reply.size();
      LOG(INFO) << "progress: " << name << ": epoch " << reply.membership_epoch() << " with "
                << reply.size() << " member(s) " << recoveries_.back().detect_ms
                << " ms after the failed collective";
    }
    Segment segment;
    segment.position = reply.position();
    segment.rank = reply.rank();
    segment.size = reply.size();
    segment.servers.assign(reply.servers().begin(), reply.servers().end());
    segment.membership_epoch = reply.membership_epoch();
    segment.commits_each_step = false;
    if (reply.action() == proto::SyncResponse::ACTION_LEAVE) {
      LOG(INFO) << "progress: " << name << " leaves the job (scaled down) at global step "
                << reply.position().global_step();
      segment.action = Segment::Action::kLeave;
      return segment;
    }
    if (reply.action() == proto::SyncResponse::ACTION_FINISH) {
      segment.action = Segment::Action::kFinish;
      segment.group = group_.get();
      return segment;
    }
    if (reply.action() != proto::SyncResponse::ACTION_TRAIN) {
      return InternalError(name + ": the scheduler's sync reply has no action");
    }
    const proto::JobPosition& position = reply.position();
    request.Clear();
    request.set_membership_epoch(reply.membership_epoch());
    *request.mutable_position() = position;
    // A new epoch: a new group through the scheduler's store.
    if (group_ == nullptr || group_epoch_ != reply.membership_epoch()) {
      group_.reset();
      collective::GroupOptions group_options;
      group_options.backend = options_.backend;
      group_options.gloo_hostname = options_.gloo_hostname;
      group_options.device = 0;
      auto formed = collective::FormGroup(group_options, store_.get(), reply.rank(),
                                          reply.size(), reply.store_prefix(),
                                          Deadline::After(options_.collective_timeout));
      if (formed.status().code() == StatusCode::kFailedPrecondition) {
        return formed.status().WithContext(name);  // the backend cannot run here
      }
      if (!formed.ok()) {
        LOG(WARNING) << name << ": forming the group of epoch " << reply.membership_epoch()
                     << " failed: " << formed.status();
        request.set_failure(formed.status().ToString());
        continue;
      }
      group_ = std::move(formed).value();
      group_epoch_ = reply.membership_epoch();
      if (reply.rank() == 0 || reply.receive_state()) {
        LOG(INFO) << "progress: " << name << " in epoch " << group_epoch_ << " as rank "
                  << reply.rank() << " of " << reply.size() << " at global step "
                  << position.global_step();
      }
    }
    epoch_ = reply.membership_epoch();
    const int phase = position.phase_index();
    if (phase >= reply.plan_size()) {
      return InternalError(name + ": told to train past the plan's last phase");
    }
    segment.command = reply.plan(phase);
    segment.max_steps = std::min<int64_t>(std::max(1, reply.sync_every_steps()),
                                          segment.command.steps() - position.phase_step());
    segment.group = group_.get();
    segment.restore = reply.restore();
    segment.broadcast_state = reply.broadcast_state();
    segment.receive_state = reply.receive_state();
    return segment;
  }
}

Status ElasticMembership::CheckAlive(int64_t global_step) {
  if (scheduler_->shutdown_requested()) {
    return UnavailableError(options_.name + ": the scheduler ended the job: " +
                            scheduler_->shutdown_reason());
  }
  if (options_.abandon_at_step >= 0 && global_step >= options_.abandon_at_step) {
    LOG(WARNING) << options_.name << ": fault injection: abandoning the job at global step "
                 << global_step << " (no heartbeats, group connections closed, no deregister)";
    scheduler_->Abandon();
    group_.reset();
    abandoned_ = true;
    return CancelledError(options_.name + " abandoned the job at global step " +
                          std::to_string(global_step) + " (fault injection)");
  }
  return Status::Ok();
}

void ElasticMembership::OnStepDone() {
  if (!recovering_) return;
  recovering_ = false;
  recoveries_.back().recover_ms = MsSince(failed_at_);
  LOG(INFO) << "progress: " << options_.name << " recovered: training again "
            << recoveries_.back().recover_ms << " ms after the failed collective, "
            << recoveries_.back().members << " member(s), " << recoveries_.back().steps_lost
            << " step(s) redone";
}

}  // namespace iak::worker
