// A shutdown step that never returns (MPI_Finalize waiting on a SIGSTOPped
// rank) cannot keep the process alive past its limit: the watchdog fires,
// and by default the process exits with the given code.
#include "collective/bounded_shutdown.h"

#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

namespace iak::collective {
namespace {

TEST(BoundedShutdownTest, StepThatReturnsInTimeNeverTriggersTheWatchdog) {
  bool ran = false;
  bool fired = false;
  RunWithDeadline("step", [&] { ran = true; }, Duration(60000), 1, [&] { fired = true; });
  EXPECT_TRUE(ran);
  EXPECT_FALSE(fired);
}

TEST(BoundedShutdownTest, HangingStepGetsTheTimeoutCallback) {
  // The step waits for what only the timeout callback provides: it returns
  // exactly because the watchdog fired.
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  RunWithDeadline(
      "hanging step",
      [&] {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return released; });
      },
      Duration(50), 1,
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        released = true;
        cv.notify_all();
      });
  EXPECT_TRUE(released);
}

TEST(BoundedShutdownDeathTest, HangingStepExitsTheProcessWithTheCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::mutex mu;
        std::condition_variable cv;
        std::unique_lock<std::mutex> lock(mu);
        RunWithDeadline("MPI_Finalize on rank 0 of 2",
                        [&] { cv.wait(lock, [] { return false; }); }, Duration(100), 7);
      },
      ::testing::ExitedWithCode(7), "MPI_Finalize on rank 0 of 2 did not return within 100 ms");
}

}  // namespace
}  // namespace iak::collective
