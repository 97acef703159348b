// NCCL groups formed through a rendezvous store (collective/nccl_rendezvous.h
// and FormGroup's "nccl" backend), ranks as threads on devices 0..n-1, one
// group per epoch prefix, groups of different sizes in turn. Inputs are small
// integers, so every rank checks the exact sum. Labelled gpu: skips, saying
// why, without a usable device.
#include "collective/nccl_rendezvous.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

#include "collective/group_factory.h"
#include "tests/cuda/gpu_test_util.h"

namespace iak::collective {
namespace {

using ::testing::HasSubstr;

float Input(int epoch, int rank, size_t i) {
  return static_cast<float>((epoch + 1) * (rank + 1) * static_cast<int>(i % 89 + 1));
}

std::vector<Status> RunRanks(int size, const std::function<Status(int)>& body) {
  std::vector<Status> results(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { results[r] = body(r); });
  for (auto& t : threads) t.join();
  return results;
}

Status CheckSum(Communicator* comm, int epoch, size_t n) {
  std::vector<float> data(n);
  for (size_t i = 0; i < n; ++i) data[i] = Input(epoch, comm->rank(), i);
  IAK_RETURN_IF_ERROR(comm->AllReduceSum(data.data(), n, Deadline::After(Duration(30000))));
  for (size_t i = 0; i < n; ++i) {
    float want = 0;
    for (int q = 0; q < comm->size(); ++q) want += Input(epoch, q, i);
    if (data[i] != want) {
      return InternalError("epoch " + std::to_string(epoch) + " rank " +
                           std::to_string(comm->rank()) + " index " + std::to_string(i) +
                           ": got " + std::to_string(data[i]) + ", want " +
                           std::to_string(want));
    }
  }
  return Status::Ok();
}

TEST(NcclRendezvousTest, GroupsOfSuccessiveEpochsSumExactly) {
  IAK_SKIP_WITHOUT_GPU();
  const int devices = *cuda::DeviceCount();
  InMemoryStore store;
  // All devices, then one fewer (when there are two or more), then all again.
  const std::vector<int> sizes = {devices, std::max(1, devices - 1), devices};
  for (int epoch = 0; epoch < static_cast<int>(sizes.size()); ++epoch) {
    const int size = sizes[epoch];
    const std::string prefix = "epoch-" + std::to_string(epoch) + "/";
    const std::vector<Status> results = RunRanks(size, [&](int r) -> Status {
      IAK_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> comm,
                           CreateNcclThroughStore(&store, r, size, r, prefix,
                                                  Deadline::After(Duration(60000))));
      if (comm->rank() != r || comm->size() != size || comm->device() != r) {
        return InternalError("wrong rank/size/device");
      }
      return CheckSum(comm.get(), epoch, 22848);  // the W2 adapter's size
    });
    for (int r = 0; r < size; ++r) EXPECT_TRUE(results[r].ok()) << prefix << results[r];
    std::string id;
    ASSERT_TRUE(store.TryGet(NcclIdKey(prefix), &id));
    EXPECT_EQ(id.size(), 128u);  // ncclUniqueId's bytes, as rank 0 made them
  }
}

TEST(NcclRendezvousTest, FormGroupNcclBackendSumsExactly) {
  IAK_SKIP_WITHOUT_GPU();
  const int size = *cuda::DeviceCount();
  InMemoryStore store;
  const std::vector<Status> results = RunRanks(size, [&](int r) -> Status {
    GroupOptions options;
    options.backend = "nccl";
    options.device = r;
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> group,
                         FormGroup(options, &store, r, size, "epoch-7/",
                                   Deadline::After(Duration(60000))));
    if (group->backend() != "nccl") return InternalError("backend " + group->backend());
    return CheckSum(group.get(), 7, 1000);
  });
  for (int r = 0; r < size; ++r) EXPECT_TRUE(results[r].ok()) << results[r];
}

TEST(NcclRendezvousTest, ARankWithoutRankZerosIdTimesOutNamingTheKey) {
  IAK_SKIP_WITHOUT_GPU();
  InMemoryStore store;
  auto comm = CreateNcclThroughStore(&store, 1, 2, 0, "epoch-3/", Deadline::After(Duration(300)));
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), StatusCode::kDeadlineExceeded) << comm.status();
  EXPECT_THAT(comm.status().ToString(), HasSubstr("epoch-3/nccl-id"));
}

// Runs everywhere the CUDA path is built: argument and device checks come
// before any store traffic or device work.
TEST(NcclRendezvousTest, BadRankOrInvisibleDeviceIsRefusedBeforeTheStore) {
  InMemoryStore store;
  auto bad_rank = CreateNcclThroughStore(&store, 2, 2, 0, "e/", Deadline::After(Duration(300)));
  ASSERT_FALSE(bad_rank.ok());
  EXPECT_EQ(bad_rank.status().code(), StatusCode::kInvalidArgument) << bad_rank.status();
  auto bad_device =
      CreateNcclThroughStore(&store, 0, 1, 1 << 20, "e/", Deadline::After(Duration(300)));
  ASSERT_FALSE(bad_device.ok());
  // No device at all: Unavailable; devices but not this one: InvalidArgument.
  EXPECT_TRUE(bad_device.status().code() == StatusCode::kUnavailable ||
              bad_device.status().code() == StatusCode::kInvalidArgument)
      << bad_device.status();
  std::string id;
  EXPECT_FALSE(store.TryGet(NcclIdKey("e/"), &id));
}

}  // namespace
}  // namespace iak::collective
