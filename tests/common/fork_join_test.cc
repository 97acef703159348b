#include "common/fork_join.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace iak {
namespace {

TEST(ForkJoinPoolTest, RunsEveryPartOnceAndWaits) {
  ForkJoinPool pool(3);
  for (int round = 0; round < 100; ++round) {
    std::vector<int> hits(3, 0);
    pool.Run([&](int part) { hits[part] += 1; });
    EXPECT_EQ(hits, std::vector<int>({1, 1, 1}));
  }
  int begin = 0, end = 0, total = 0;
  for (int p = 0; p < 3; ++p) {
    PartRange(10, 3, p, &begin, &end);
    EXPECT_EQ(begin, total);
    total = end;
  }
  EXPECT_EQ(total, 10);
}

// A helper slower than the caller's spin at the join: Run still returns only
// once every part has (the caller then sleeps until the last one wakes it).
TEST(ForkJoinPoolTest, WaitsForASlowPartPastTheSpin) {
  ForkJoinPool pool(2);
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> done{0};
    pool.Run([&](int part) {
      if (part == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      done.fetch_add(1);
    });
    EXPECT_EQ(done.load(), 2) << "round " << round;
  }
}

TEST(ForkJoinPoolTest, OneThreadRunsOnTheCaller) {
  ForkJoinPool pool(1);
  int calls = 0;
  pool.Run([&](int part) {
    EXPECT_EQ(part, 0);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace iak
