#include "worker/static_membership.h"

#include <utility>

namespace iak::worker {

StaticMembership::StaticMembership(scheduler::SchedulerClient* scheduler,
                                   collective::Communicator* group, Duration barrier_timeout,
                                   std::string name)
    : scheduler_(scheduler),
      group_(group),
      barrier_timeout_(barrier_timeout),
      name_(std::move(name)) {}

Status StaticMembership::Barrier() {
  const std::string name = barriers_ == 0 ? "start" : "phase-" + std::to_string(barriers_);
  IAK_ASSIGN_OR_RETURN(proto::BarrierResponse reply,
                       scheduler_->Barrier(name, Deadline::After(barrier_timeout_)));
  if (barriers_ == 0) servers_.assign(reply.servers().begin(), reply.servers().end());
  command_ = reply.command();
  ++barriers_;
  return Status::Ok();
}

StatusOr<Segment> StaticMembership::Next(const SegmentReport& report) {
  // Barrier i (0 = "start") hands out phase i; phases a resumed worker has
  // finished are passed without training.
  IAK_RETURN_IF_ERROR(Barrier());
  while (command_.phase() != proto::PHASE_FINISHED &&
         barriers_ - 1 < report.position.phase_index()) {
    IAK_RETURN_IF_ERROR(Barrier());
  }
  Segment segment;
  segment.group = group_;
  segment.rank = group_->rank();
  segment.size = group_->size();
  segment.servers = servers_;
  segment.position = report.position;
  if (command_.phase() == proto::PHASE_FINISHED) {
    segment.action = Segment::Action::kFinish;
    return segment;
  }
  segment.command = command_;
  if (segment.position.phase_index() < barriers_ - 1) {  // a phase this worker never began
    segment.position.set_phase_index(barriers_ - 1);
    segment.position.set_phase_step(0);
  }
  segment.max_steps = command_.steps() - segment.position.phase_step();
  return segment;
}

Status StaticMembership::CheckAlive(int64_t) {
  if (scheduler_->shutdown_requested()) {
    return UnavailableError(name_ + ": the scheduler ended the job: " +
                            scheduler_->shutdown_reason());
  }
  return Status::Ok();
}

}  // namespace iak::worker
