// FormGroup (collective/group_factory.h): groups of different sizes at
// successive epoch prefixes over Gloo with ranks as threads and an in-memory
// store (exact sums of small integers), the failure contract (a failed
// collective makes the group refuse further use), and the clear errors of
// the NCCL backend when this build or this machine cannot run it.
#include "collective/group_factory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

#include "common/build_config.h"
#if IAK_HAVE_CUDA
#include "cuda/cuda_status.h"
#endif

namespace iak::collective {
namespace {

using ::testing::HasSubstr;

float Input(int epoch, int rank, size_t i) {
  return static_cast<float>(static_cast<int>((epoch * 31 + rank * 7 + i * 13) % 201) - 100);
}

std::vector<Status> RunRanks(int size, const std::function<Status(int)>& body) {
  std::vector<Status> results(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { results[r] = body(r); });
  for (auto& t : threads) t.join();
  return results;
}

Status FormAndReduce(Store* store, int epoch, int rank, int size, size_t n) {
  const std::string prefix = "epoch-" + std::to_string(epoch) + "/";
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> group,
                       FormGroup(GroupOptions{}, store, rank, size, prefix,
                                 Deadline::After(Duration(15000))));
  if (group->rank() != rank || group->size() != size || group->backend() != "gloo") {
    return InternalError(prefix + ": wrong rank/size/backend");
  }
  std::vector<float> data(n);
  for (size_t i = 0; i < n; ++i) data[i] = Input(epoch, rank, i);
  IAK_RETURN_IF_ERROR(group->AllReduceSum(data.data(), n, Deadline::After(Duration(15000))));
  for (size_t i = 0; i < n; ++i) {
    float want = 0;
    for (int q = 0; q < size; ++q) want += Input(epoch, q, i);
    if (data[i] != want) {
      return InternalError(prefix + " rank " + std::to_string(rank) + " index " +
                           std::to_string(i) + ": got " + std::to_string(data[i]) + ", want " +
                           std::to_string(want));
    }
  }
  return Status::Ok();
}

TEST(GroupFactoryTest, GlooGroupsOfDifferentSizesAtSuccessiveEpochsSumExactly) {
  if (!IAK_HAVE_GLOO) GTEST_SKIP() << "built without Gloo (libgloo-dev)";
  InMemoryStore store;
  // Epoch 1: 3 members; epoch 2: one left (2); epoch 3: it rejoined (3).
  const int sizes[] = {3, 2, 3};
  for (int epoch = 1; epoch <= 3; ++epoch) {
    const int size = sizes[epoch - 1];
    const std::vector<Status> results =
        RunRanks(size, [&](int r) { return FormAndReduce(&store, epoch, r, size, 1000); });
    for (int r = 0; r < size; ++r) EXPECT_TRUE(results[r].ok()) << results[r];
  }
}

TEST(GroupFactoryTest, AFailedCollectiveMakesTheGroupRefuseFurtherUse) {
  if (!IAK_HAVE_GLOO) GTEST_SKIP() << "built without Gloo (libgloo-dev)";
  InMemoryStore store;
  std::vector<std::unique_ptr<Communicator>> groups(2);
  const std::vector<Status> formed = RunRanks(2, [&](int r) -> Status {
    IAK_ASSIGN_OR_RETURN(groups[r], FormGroup(GroupOptions{}, &store, r, 2, "epoch-1/",
                                              Deadline::After(Duration(15000))));
    return Status::Ok();
  });
  ASSERT_TRUE(formed[0].ok()) << formed[0];
  ASSERT_TRUE(formed[1].ok()) << formed[1];
  groups[1].reset();  // rank 1 is gone
  std::vector<float> data(100, 1.0f);
  const Status failed = groups[0]->AllReduceSum(data.data(), data.size(),
                                                Deadline::After(Duration(500)));
  ASSERT_FALSE(failed.ok());
  const Status again = groups[0]->AllReduceSum(data.data(), data.size(),
                                               Deadline::After(Duration(15000)));
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again;
  EXPECT_THAT(again.ToString(), HasSubstr("cannot be reused"));
}

TEST(GroupFactoryTest, AnUnknownBackendOrABadRankIsRefused) {
  InMemoryStore store;
  GroupOptions options;
  options.backend = "mpi";
  auto unknown = FormGroup(options, &store, 0, 1, "e/", Deadline::After(Duration(1000)));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().ToString(), HasSubstr("unknown collective backend 'mpi'"));
  if (!IAK_HAVE_GLOO) return;
  auto bad_rank = FormGroup(GroupOptions{}, &store, 3, 2, "e/", Deadline::After(Duration(1000)));
  ASSERT_FALSE(bad_rank.ok());
  EXPECT_EQ(bad_rank.status().code(), StatusCode::kInvalidArgument);
}

// Without the CUDA path, or on a machine without a device, the nccl backend
// answers at once with what to do; rank 0 publishes no group id.
TEST(GroupFactoryTest, NcclWithoutCudaSupportOrADeviceGivesAClearError) {
#if IAK_HAVE_CUDA
  if (cuda::DeviceCount().ok()) {
    GTEST_SKIP() << "a CUDA device is present: the nccl backend works here "
                    "(tests/cuda/nccl_rendezvous_test.cc covers it)";
  }
#endif
  InMemoryStore store;
  GroupOptions options;
  options.backend = "nccl";
  auto formed = FormGroup(options, &store, 0, 2, "epoch-1/", Deadline::After(Duration(5000)));
  ASSERT_FALSE(formed.ok());
#if IAK_HAVE_CUDA
  EXPECT_EQ(formed.status().code(), StatusCode::kFailedPrecondition) << formed.status();
  EXPECT_THAT(formed.status().ToString(), HasSubstr("no CUDA device"));
#else
  EXPECT_EQ(formed.status().code(), StatusCode::kFailedPrecondition) << formed.status();
  EXPECT_THAT(formed.status().ToString(), HasSubstr("built without CUDA/NCCL: rebuild with"));
#endif
  std::string id;
  EXPECT_FALSE(store.TryGet("epoch-1/nccl-id", &id));
}

}  // namespace
}  // namespace iak::collective
