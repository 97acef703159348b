// Clock and Deadline: every blocking call in IAK-PS takes a Deadline, and
// every component that reads time takes a Clock, so tests can inject time.
//
// Thread-safety: RealClock is thread-safe; ManualClock is thread-safe.
#ifndef IAK_COMMON_CLOCK_H_
#define IAK_COMMON_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <mutex>

namespace iak {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The process's monotonic clock.
class RealClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // A process-wide instance; stateless, so sharing it hides nothing.
  static const Clock* Get();
};

// A clock that only moves when told to (tests).
class ManualClock : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_{};
};

// Seconds of the steady clock since `start` (progress lines, benchmarks).
inline double SecondsSince(TimePoint start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// An absolute point in (steady) time by which a wait must end.
class Deadline {
 public:
  static Deadline After(Duration d) {
    return Deadline(std::chrono::steady_clock::now() + d);
  }
  static Deadline At(TimePoint t) { return Deadline(t); }

  TimePoint when() const { return when_; }
  bool Expired() const { return std::chrono::steady_clock::now() >= when_; }
  // Milliseconds left, never negative.
  int64_t RemainingMs() const {
    auto left = std::chrono::duration_cast<Duration>(
        when_ - std::chrono::steady_clock::now());
    return left.count() > 0 ? left.count() : 0;
  }

 private:
  explicit Deadline(TimePoint when) : when_(when) {}
  TimePoint when_;
};

}  // namespace iak

#endif  // IAK_COMMON_CLOCK_H_
