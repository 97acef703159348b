#include "collective/inproc_communicator.h"

#include <algorithm>
#include <string>

namespace iak::collective {

InProcGroup::InProcGroup(int size) : size_(size), inputs_(size, nullptr) {
  CHECK_GT(size, 0);
}

Status InProcGroup::AllReduceSum(int rank, float* data, size_t n, Deadline deadline) {
  CHECK_GE(rank, 0);
  CHECK_LT(rank, size_);
  std::unique_lock<std::mutex> lock(mu_);
  // Wait for the previous round to be fully drained before joining a new one.
  if (!cv_.wait_until(lock, deadline.when(), [&] { return !result_ready_ || broken_; })) {
    broken_ = true;
    cv_.notify_all();
    return DeadlineExceededError("in-process all-reduce: rank " + std::to_string(rank) +
                                 " timed out waiting for the previous round");
  }
  if (broken_) return UnavailableError("in-process all-reduce group is broken (a rank timed out)");
  const uint64_t my_round = round_;
  inputs_[rank] = data;
  ++arrived_;
  if (arrived_ == size_) {
    // Sum in rank order: identical result on every rank, every run.
    result_.assign(n, 0.0f);
    for (int r = 0; r < size_; ++r) {
      for (size_t i = 0; i < n; ++i) result_[i] += inputs_[r][i];
    }
    result_ready_ = true;
    cv_.notify_all();
  } else if (!cv_.wait_until(lock, deadline.when(),
                             [&] { return (result_ready_ && round_ == my_round) || broken_; })) {
    broken_ = true;
    cv_.notify_all();
    return DeadlineExceededError("in-process all-reduce: rank " + std::to_string(rank) +
                                 " waited past its deadline for " +
                                 std::to_string(size_ - arrived_) + " other rank(s)");
  }
  if (broken_) return UnavailableError("in-process all-reduce group is broken (a rank timed out)");
  std::copy(result_.begin(), result_.begin() + static_cast<long>(n), data);
  if (++departed_ == size_) {
    arrived_ = 0;
    departed_ = 0;
    result_ready_ = false;
    std::fill(inputs_.begin(), inputs_.end(), nullptr);
    ++round_;
    cv_.notify_all();
  }
  return Status::Ok();
}

}  // namespace iak::collective
