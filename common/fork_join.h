// ForkJoinPool: runs one function on N threads at once and waits for all of
// them: part 0 on the calling thread, parts 1..N-1 on persistent helper
// threads (started once, so a step pays a wake-up, never a thread start).
// This is how a training step splits its batch over the cores, and a
// parameter server the lookup of a large pull.
//
// Thread-safety: Run() from one thread at a time. The helpers live until the
// pool is destroyed.
#ifndef IAK_COMMON_FORK_JOIN_H_
#define IAK_COMMON_FORK_JOIN_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace iak {

class ForkJoinPool {
 public:
  // num_threads >= 1 (CHECKed); 1 runs everything on the caller.
  explicit ForkJoinPool(int num_threads);
  ~ForkJoinPool();

  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(part) for every part in [0, num_threads()) concurrently and
  // returns when all calls have returned. fn must not throw.
  void Run(const std::function<void(int part)>& fn);

 private:
  void HelperLoop(int part);

  int num_threads_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int)>* task_ = nullptr;  // guarded by mu_
  uint64_t generation_ = 0;                          // guarded by mu_
  // Parts not yet returned: written under mu_ by Run, counted down by the
  // helpers without it (the caller spins on it before it sleeps).
  std::atomic<int> pending_{0};
  bool shutdown_ = false;                            // guarded by mu_
  std::vector<std::thread> helpers_;
};

// The rows [begin, end) of part `part` of `n` rows split into `parts` nearly
// equal contiguous ranges (earlier parts get the remainder).
inline void PartRange(int n, int parts, int part, int* begin, int* end) {
  const int base = n / parts, extra = n % parts;
  *begin = part * base + (part < extra ? part : extra);
  *end = *begin + base + (part < extra ? 1 : 0);
}

}  // namespace iak

#endif  // IAK_COMMON_FORK_JOIN_H_
