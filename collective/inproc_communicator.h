// In-process collectives: ranks are threads of one process sharing an
// InProcGroup. Sums are taken in rank order, so results are bit-identical on
// every rank and from run to run.
//
// Thread-safety: InProcGroup is thread-safe; each rank's communicator is used
// by its own thread.
#ifndef IAK_COLLECTIVE_INPROC_COMMUNICATOR_H_
#define IAK_COLLECTIVE_INPROC_COMMUNICATOR_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "collective/communicator.h"

namespace iak::collective {

class InProcGroup {
 public:
  explicit InProcGroup(int size);
  int size() const { return size_; }

  // Contributes rank's buffer to the current round and waits for the sum.
  Status AllReduceSum(int rank, float* data, size_t n, Deadline deadline);

 private:
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t round_ = 0;                     // guarded by mu_
  int arrived_ = 0;                        // guarded by mu_
  int departed_ = 0;                       // guarded by mu_
  std::vector<const float*> inputs_;       // guarded by mu_
  std::vector<float> result_;              // guarded by mu_
  bool result_ready_ = false;              // guarded by mu_
  bool broken_ = false;                    // guarded by mu_: a rank timed out
};

class InProcCommunicator : public Communicator {
 public:
  InProcCommunicator(std::shared_ptr<InProcGroup> group, int rank)
      : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  Status AllReduceSum(float* data, size_t n, Deadline deadline) override {
    return group_->AllReduceSum(rank_, data, n, deadline);
  }
  std::string backend() const override { return "inproc"; }

 private:
  std::shared_ptr<InProcGroup> group_;
  int rank_;
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_INPROC_COMMUNICATOR_H_
