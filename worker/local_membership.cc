#include "worker/local_membership.h"

namespace iak::worker {

LocalMembership::LocalMembership(const proto::JobSpec* spec)
    : spec_(spec), group_(std::make_shared<collective::InProcGroup>(1), 0) {}

StatusOr<Segment> LocalMembership::Next(const SegmentReport& report) {
  Segment segment;
  segment.position = report.position;
  segment.group = &group_;
  const int phase = report.position.phase_index();
  if (phase >= spec_->phases_size()) {
    segment.action = Segment::Action::kFinish;
    return segment;
  }
  segment.command = spec_->phases(phase);
  segment.max_steps = segment.command.steps() - report.position.phase_step();
  return segment;
}

}  // namespace iak::worker
