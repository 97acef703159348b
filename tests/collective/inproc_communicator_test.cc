#include "collective/inproc_communicator.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace iak::collective {
namespace {

// Inputs from (rank, round, index), as nccl-tests does: every rank can check
// the exact expected sum itself.
float Input(int rank, int round, size_t i) {
  return static_cast<float>(rank * 1000 + round * 10) + static_cast<float>(i) * 0.5f;
}

TEST(InProcCommunicatorTest, AllReduceSumsOverRanksForManyRounds) {
  constexpr int kRanks = 4;
  constexpr int kRounds = 25;
  constexpr size_t kSize = 33;
  auto group = std::make_shared<InProcGroup>(kRanks);
  std::vector<Status> results(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      InProcCommunicator comm(group, r);
      for (int round = 0; round < kRounds; ++round) {
        std::vector<float> data(kSize);
        for (size_t i = 0; i < kSize; ++i) data[i] = Input(r, round, i);
        Status s = comm.AllReduceSum(data.data(), kSize, Deadline::After(Duration(10000)));
        if (!s.ok()) {
          results[r] = s;
          return;
        }
        for (size_t i = 0; i < kSize; ++i) {
          float expected = 0;
          for (int q = 0; q < kRanks; ++q) expected += Input(q, round, i);
          if (data[i] != expected) {
            results[r] = InternalError("rank " + std::to_string(r) + " round " +
                                       std::to_string(round) + " index " + std::to_string(i));
            return;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s;
}

TEST(InProcCommunicatorTest, MeanDividesBySize) {
  auto group = std::make_shared<InProcGroup>(2);
  std::vector<float> a = {1, 2};
  std::vector<float> b = {3, 6};
  std::thread other([&] {
    InProcCommunicator comm(group, 1);
    EXPECT_TRUE(comm.AllReduceMean(b.data(), 2, Deadline::After(Duration(10000))).ok());
  });
  InProcCommunicator comm(group, 0);
  EXPECT_TRUE(comm.AllReduceMean(a.data(), 2, Deadline::After(Duration(10000))).ok());
  other.join();
  EXPECT_EQ(a, (std::vector<float>{2, 4}));
  EXPECT_EQ(b, (std::vector<float>{2, 4}));
}

TEST(InProcCommunicatorTest, MissingRankYieldsDeadlineNotHang) {
  auto group = std::make_shared<InProcGroup>(2);
  InProcCommunicator comm(group, 0);
  std::vector<float> data = {1};
  // Rank 1 never arrives; an already-expired deadline keeps the test instant.
  Status s = comm.AllReduceSum(data.data(), 1, Deadline::After(Duration(0)));
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("1 other rank"), std::string::npos) << s;
  // The group is now broken: later calls fail fast instead of mixing rounds.
  EXPECT_EQ(comm.AllReduceSum(data.data(), 1, Deadline::After(Duration(1000))).code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace iak::collective
