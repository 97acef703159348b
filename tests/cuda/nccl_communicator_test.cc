#include "collective/nccl_communicator.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cuda/gpu_test_util.h"

namespace iak::collective {
namespace {

// Inputs from (rank, index), as nccl-tests does, in small integers so the
// float sum is exact and every rank can check its own result.
float Input(int rank, size_t i) { return static_cast<float>((rank + 1) * (i % 97 + 1)); }

void ExpectAllReduceSumsExactly(size_t n) {
  auto devices = cuda::DeviceCount();
  ASSERT_TRUE(devices.ok());
  auto group = NcclCommunicator::CreateLocalGroup(*devices);
  ASSERT_TRUE(group.ok()) << group.status();
  const int size = static_cast<int>(group->size());
  std::vector<std::vector<float>> data(size);
  std::vector<Status> results(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    data[r].resize(n);
    for (size_t i = 0; i < n; ++i) data[r][i] = Input(r, i);
    threads.emplace_back([&, r] {
      results[r] = (*group)[r]->AllReduceSum(data[r].data(), n,
                                             Deadline::After(std::chrono::seconds(30)));
    });
  }
  for (auto& t : threads) t.join();
  const float ranks_sum = static_cast<float>(size * (size + 1) / 2);
  for (int r = 0; r < size; ++r) {
    ASSERT_TRUE(results[r].ok()) << results[r];
    EXPECT_EQ((*group)[r]->backend(), "nccl");
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(data[r][i], ranks_sum * static_cast<float>(i % 97 + 1))
          << "rank " << r << " index " << i;
    }
  }
}

TEST(NcclCommunicatorTest, AllReduceOfTheAdapterGradientSizeSumsExactly) {
  IAK_SKIP_WITHOUT_GPU();
  ExpectAllReduceSumsExactly(22848);  // the W2 adapter's parameter count
}

TEST(NcclCommunicatorTest, LargeAllReduceSumsExactly) {
  IAK_SKIP_WITHOUT_GPU();
  ExpectAllReduceSumsExactly(size_t{1} << 22);
}

TEST(NcclCommunicatorTest, MeanDividesBySize) {
  IAK_SKIP_WITHOUT_GPU();
  auto devices = cuda::DeviceCount();
  auto group = NcclCommunicator::CreateLocalGroup(*devices);
  ASSERT_TRUE(group.ok()) << group.status();
  const int size = static_cast<int>(group->size());
  std::vector<std::vector<float>> data(size, std::vector<float>(1000));
  std::vector<Status> results(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    for (size_t i = 0; i < 1000; ++i) data[r][i] = static_cast<float>(size * (i + r));
    threads.emplace_back([&, r] {
      results[r] = (*group)[r]->AllReduceMean(data[r].data(), 1000,
                                              Deadline::After(std::chrono::seconds(30)));
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < size; ++r) {
    ASSERT_TRUE(results[r].ok()) << results[r];
    // mean over ranks of size*(i+r) = size*i + size*(size-1)/2.
    for (size_t i = 0; i < 1000; ++i) {
      ASSERT_EQ(data[r][i], static_cast<float>(size * i + size * (size - 1) / 2.0)) << i;
    }
  }
}

TEST(NcclCommunicatorTest, TooManyLocalDevicesIsInvalidArgument) {
  IAK_SKIP_WITHOUT_GPU();
  auto devices = cuda::DeviceCount();
  auto group = NcclCommunicator::CreateLocalGroup(*devices + 1);
  EXPECT_EQ(group.status().code(), StatusCode::kInvalidArgument) << group.status();
}

// Argument checks come before any device access: these run everywhere.
TEST(NcclCommunicatorTest, BadRankOrGroupIdIsInvalidArgument) {
  NcclOptions bad_rank;
  bad_rank.rank = 2;
  bad_rank.size = 2;
  bad_rank.unique_id = std::string(128, '\0');
  EXPECT_EQ(NcclCommunicator::Create(bad_rank, Deadline::After(std::chrono::seconds(1)))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  NcclOptions bad_id;
  bad_id.unique_id = "not an id";
  auto s = NcclCommunicator::Create(bad_id, Deadline::After(std::chrono::seconds(1)));
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("NewUniqueId"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace iak::collective
