// LocalMembership: a group of one, in this process, with no scheduler: the
// spec's phases in order, each as one segment (`iak compare`, tests). With
// the same spec and seed a local run trains exactly what a one-worker
// cluster job trains.
#ifndef IAK_WORKER_LOCAL_MEMBERSHIP_H_
#define IAK_WORKER_LOCAL_MEMBERSHIP_H_

#include <memory>

#include "collective/inproc_communicator.h"
#include "worker/membership.h"

namespace iak::worker {

class LocalMembership : public Membership {
 public:
  // `spec` (its phases) must outlive this.
  explicit LocalMembership(const proto::JobSpec* spec);
  StatusOr<Segment> Next(const SegmentReport& report) override;

 private:
  const proto::JobSpec* spec_;
  collective::InProcCommunicator group_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_LOCAL_MEMBERSHIP_H_
