// NCCL collectives for workers on GPUs: the all-reduce of the IAK gradients.
//
// Two ways to build a group:
//   - CreateLocalGroup(n): one communicator per local device 0..n-1 (ranks
//     are devices), each then driven by its own thread; for one process
//     with several GPUs, and for tests.
//   - Create(options): one rank of a group spread over processes or hosts.
//     Rank 0 makes an id with NewUniqueId() and hands it to the others over
//     any channel (the scheduler, MPI); the join is bounded by a deadline.
//
// AllReduceSum takes host memory, as the Communicator contract says: the
// data goes through a pinned staging buffer and a device buffer that are
// allocated on first use and reused. AllReduceSumOnDevice skips the copies
// for gradients that already live on the GPU.
//
// NCCL has no timeouts of its own: every collective is enqueued and then
// polled (stream completion and NCCL's async error) until its deadline.
// Past it, the communicator is aborted and the call returns
// DeadlineExceeded. After any failed collective (deadline, async error, a
// call refused at enqueue) every later call fails with FailedPrecondition (a
// group with a stuck rank cannot be reused; rebuild it), and the destructor
// aborts the communicator instead of waiting for its peers.
//
// Thread-safety: one thread drives one communicator (one rank).
#ifndef IAK_COLLECTIVE_NCCL_COMMUNICATOR_H_
#define IAK_COLLECTIVE_NCCL_COMMUNICATOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collective/communicator.h"

namespace iak::collective {

struct NcclOptions {
  int device = 0;          // CUDA device of this rank
  int rank = 0;            // 0..size-1
  int size = 1;            // ranks in the group
  std::string unique_id;   // NewUniqueId() of rank 0, the same on every rank
};

class NcclCommunicator : public Communicator {
 public:
  // A fresh group id (opaque bytes) for rank 0 to share.
  static StatusOr<std::string> NewUniqueId();

  // Joins the group; DeadlineExceeded when the other ranks do not all join
  // by `deadline`, InvalidArgument for a bad rank/size/id.
  static StatusOr<std::unique_ptr<NcclCommunicator>> Create(const NcclOptions& options,
                                                            Deadline deadline);

  // One communicator per device 0..num_devices-1, rank i on device i.
  static StatusOr<std::vector<std::unique_ptr<NcclCommunicator>>> CreateLocalGroup(
      int num_devices);

  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const { return device_; }
  Status AllReduceSum(float* data, size_t n, Deadline deadline) override;
  std::string backend() const override { return "nccl"; }

  // Sums device memory (on device()) in place.
  [[nodiscard]] Status AllReduceSumOnDevice(float* device_data, size_t n, Deadline deadline);

 private:
  struct State;
  NcclCommunicator(std::unique_ptr<State> state, int rank, int size, int device);
  Status Wait(Deadline deadline, const char* what);
  // Runs `reduce` (on this rank's device) for a reduction of n values,
  // unless the group broke earlier; any failure breaks it.
  Status Reduce(size_t n, const std::function<Status()>& reduce);

  std::unique_ptr<State> state_;
  int rank_;
  int size_;
  int device_;
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_NCCL_COMMUNICATOR_H_
