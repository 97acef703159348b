// StaticMembership: a fixed group (MPI ranks, or in-process threads) that
// meets the scheduler at the phase barriers: "start" hands out the first
// phase and the servers, "phase-<i>" the next. A resumed worker passes the
// barriers of the phases its checkpoint has finished.
#ifndef IAK_WORKER_STATIC_MEMBERSHIP_H_
#define IAK_WORKER_STATIC_MEMBERSHIP_H_

#include <vector>

#include "collective/communicator.h"
#include "scheduler/scheduler_client.h"
#include "worker/membership.h"

namespace iak::worker {

class StaticMembership : public Membership {
 public:
  // `scheduler` (registered) and `group` must outlive this.
  StaticMembership(scheduler::SchedulerClient* scheduler, collective::Communicator* group,
                   Duration barrier_timeout, std::string name);
  StatusOr<Segment> Next(const SegmentReport& report) override;
  Status CheckAlive(int64_t global_step) override;

 private:
  Status Barrier();

  scheduler::SchedulerClient* scheduler_;
  collective::Communicator* group_;
  Duration barrier_timeout_;
  std::string name_;
  int barriers_ = 0;  // passed so far
  proto::PhaseCommand command_;
  std::vector<proto::ServerAddress> servers_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_STATIC_MEMBERSHIP_H_
