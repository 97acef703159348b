#include "common/fork_join.h"

#include <chrono>

#include <glog/logging.h>

namespace iak {
namespace {

// How long the caller spins at the join before it sleeps.
constexpr std::chrono::microseconds kJoinSpin(50);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ForkJoinPool::ForkJoinPool(int num_threads) : num_threads_(num_threads) {
  CHECK_GE(num_threads, 1);
  for (int part = 1; part < num_threads; ++part) {
    helpers_.emplace_back([this, part] { HelperLoop(part); });
  }
}

ForkJoinPool::~ForkJoinPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void ForkJoinPool::Run(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) {
    fn(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = &fn;
    pending_ = num_threads_ - 1;
    ++generation_;
  }
  work_cv_.notify_all();
  fn(0);
  // The helpers usually finish within microseconds of the caller: spin that
  // long before sleeping, since a futex wake-up costs tens of microseconds on
  // a virtual machine (the PS's lookup of one pull is ~150 us in all).
  const auto spin_until = std::chrono::steady_clock::now() + kJoinSpin;
  while (pending_.load(std::memory_order_acquire) != 0 &&
         std::chrono::steady_clock::now() < spin_until) {
    CpuRelax();
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  task_ = nullptr;
}

void ForkJoinPool::HelperLoop(int part) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int)>* task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return shutdown_ || generation_ != seen; });
      if (shutdown_) return;
      seen = generation_;
      task = task_;
    }
    (*task)(part);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Under the mutex, so that a caller between its check and its wait
      // cannot miss the notification.
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

}  // namespace iak
