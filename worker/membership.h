// Membership: who trains together and where the job stands, the seam between
// the Trainer (worker/trainer.h) and the way a job is run. Three kinds:
//   LocalMembership   (worker/local_membership.h)   one process, no scheduler:
//                     the spec's phases in order (`iak compare`, tests);
//   StaticMembership  (worker/static_membership.h)  a fixed group (MPI or
//                     in-process) that meets the scheduler at phase barriers;
//   ElasticMembership (worker/elastic_membership.h) members that join and
//                     leave: a sync with the scheduler every few steps, a
//                     collective group per membership epoch, roll-back to the
//                     last sync point after a failed collective.
//
// The trainer asks for a Segment, trains it (up to max_steps steps, never
// past the phase's end) and reports where it got to, then asks again.
//
// Thread-safety: one thread (the trainer's).
#ifndef IAK_WORKER_MEMBERSHIP_H_
#define IAK_WORKER_MEMBERSHIP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "common/status.h"
#include "proto/job_spec.pb.h"
#include "proto/wire.pb.h"

namespace iak::worker {

struct Segment {
  enum class Action { kTrain, kFinish, kLeave };
  Action action = Action::kTrain;
  // kTrain: continue from `position` (its phase index names the phase in
  // `command`), at most max_steps steps.
  proto::JobPosition position;
  proto::PhaseCommand command;
  int64_t max_steps = 0;
  collective::Communicator* group = nullptr;  // valid until the next Next()
  int rank = 0;
  int size = 1;
  // The parameter servers (for the first segment's connection); may be empty.
  std::vector<proto::ServerAddress> servers;
  // Elastic: roll back to the state of the last segment start; rank 0 sends
  // its state to the joiners (who receive it).
  bool restore = false;
  bool broadcast_state = false;
  bool receive_state = false;
  // Whether the trainer may checkpoint inside the segment (every member
  // agrees on every step's position); elastic segments commit only at syncs.
  bool commits_each_step = true;
  // The membership epoch the state belongs to (checkpoints record it).
  int64_t membership_epoch = 0;
};

// What the trainer reports after a segment (or before the first one).
struct SegmentReport {
  proto::JobPosition position;  // where its state stands
  std::string failure;          // non-empty: a collective failed, and why
  bool first = true;            // the report before the first segment
  bool resumed = false;         // first: the position is a checkpoint's
  int64_t steps_done = 0;       // steps completed in the segment
};

class Membership {
 public:
  virtual ~Membership() = default;
  // The next segment. Errors end the job (a barrier or sync deadline, the
  // scheduler's shutdown).
  [[nodiscard]] virtual StatusOr<Segment> Next(const SegmentReport& report) = 0;
  // True when a failed collective can be reported and retried (elastic);
  // false: it ends the job.
  virtual bool recovers_from_failures() const { return false; }
  // Polled before every step: non-OK when the job must stop (the scheduler
  // ended it).
  [[nodiscard]] virtual Status CheckAlive(int64_t global_step) {
    (void)global_step;
    return Status::Ok();
  }
  // Called after every completed step.
  virtual void OnStepDone() {}
};

}  // namespace iak::worker

#endif  // IAK_WORKER_MEMBERSHIP_H_
