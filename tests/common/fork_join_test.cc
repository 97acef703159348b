#include "common/fork_join.h"

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
