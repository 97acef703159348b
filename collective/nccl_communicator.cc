#include "collective/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "collective/bounded_shutdown.h"
#include "cuda/cuda_status.h"
#include "cuda/device_buffer.h"

namespace iak::collective {
namespace {

// Between polls of a running collective: short enough to add little to a
// ~10 us all-reduce, long enough not to spin a core flat out.
constexpr auto kPollInterval = std::chrono::microseconds(5);

// NCCL's teardown waits for its proxy threads and streams, and with a peer
// gone it can wait forever; no NCCL call can be cancelled, so past this limit
// the process leaves (bounded_shutdown.h) and the scheduler sees it go.
constexpr Duration kTeardownLimit = std::chrono::seconds(30);

// ncclCommAbort (a broken group) or ncclCommDestroy, under the watchdog.
void TearDown(ncclComm_t comm, bool broken, int rank, int size) {
  const std::string what = std::string(broken ? "ncclCommAbort" : "ncclCommDestroy") +
                           " of rank " + std::to_string(rank) + " of " + std::to_string(size);
  RunWithDeadline(
      what,
      [comm, broken] {
        if (broken) {
          ncclCommAbort(comm);
        } else {
          ncclCommDestroy(comm);
        }
      },
      kTeardownLimit);
}

Status NcclStatus(ncclResult_t result, const char* what) {
  if (result == ncclSuccess || result == ncclInProgress) return Status::Ok();
  std::string message = std::string("NCCL: ") + what + " failed: " + ncclGetErrorString(result);
  switch (result) {
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return InvalidArgumentError(message);
    case ncclSystemError:
    case ncclRemoteError:
      return UnavailableError(message + "; a peer or the network failed");
    default:
      return InternalError(message);
  }
}

#define IAK_NCCL_RETURN_IF_ERROR(call) IAK_RETURN_IF_ERROR(NcclStatus((call), #call))

}  // namespace

struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  bool broken = false;
  cuda::DeviceBuffer<float> device_buffer;
  cuda::PinnedBuffer<float> pinned_buffer;
};

StatusOr<std::string> NcclCommunicator::NewUniqueId() {
  ncclUniqueId id;
  IAK_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof(id.internal));
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<State> state, int rank, int size,
                                   int device)
    : state_(std::move(state)), rank_(rank), size_(size), device_(device) {}

NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(device_);
  if (state_->comm != nullptr) TearDown(state_->comm, state_->broken, rank_, size_);
  if (state_->stream != nullptr) cudaStreamDestroy(state_->stream);
}

StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    const NcclOptions& options, Deadline deadline) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return InvalidArgumentError("NCCL: rank " + std::to_string(options.rank) +
                                " is not in a group of size " + std::to_string(options.size));
  }
  ncclUniqueId id;
  if (options.unique_id.size() != sizeof(id.internal)) {
    return InvalidArgumentError("NCCL: the group id has " +
                                std::to_string(options.unique_id.size()) + " bytes, expected " +
                                std::to_string(sizeof(id.internal)) +
                                " (pass rank 0's NewUniqueId() unchanged)");
  }
  std::memcpy(id.internal, options.unique_id.data(), sizeof(id.internal));
  IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device));
  auto state = std::make_unique<State>();
  IAK_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking));
  std::unique_ptr<NcclCommunicator> comm(
      new NcclCommunicator(std::move(state), options.rank, options.size, options.device));
  // Non-blocking init, so a missing peer costs a deadline, not a hang.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  IAK_NCCL_RETURN_IF_ERROR(ncclCommInitRankConfig(&comm->state_->comm, options.size, id,
                                                  options.rank, &config));
  while (true) {
    ncclResult_t async = ncclSuccess;
    IAK_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(comm->state_->comm, &async));
    if (async == ncclSuccess) break;
    if (async != ncclInProgress) {
      comm->state_->broken = true;
      return NcclStatus(async, "ncclCommInitRankConfig");
    }
    if (deadline.Expired()) {
      comm->state_->broken = true;
      return DeadlineExceededError("NCCL: rank " + std::to_string(options.rank) + " of " +
                                   std::to_string(options.size) +
                                   " timed out waiting for the other ranks to join");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return comm;
}

StatusOr<std::vector<std::unique_ptr<NcclCommunicator>>> NcclCommunicator::CreateLocalGroup(
    int num_devices) {
  IAK_ASSIGN_OR_RETURN(const int available, cuda::DeviceCount());
  if (num_devices < 1 || num_devices > available) {
    return InvalidArgumentError("NCCL: asked for " + std::to_string(num_devices) +
                                " local devices, " + std::to_string(available) + " visible");
  }
  std::vector<ncclComm_t> comms(num_devices, nullptr);
  std::vector<int> devices(num_devices);
  for (int d = 0; d < num_devices; ++d) devices[d] = d;
  IAK_NCCL_RETURN_IF_ERROR(ncclCommInitAll(comms.data(), num_devices, devices.data()));
  std::vector<std::unique_ptr<NcclCommunicator>> group;
  for (int d = 0; d < num_devices; ++d) {
    auto state = std::make_unique<State>();
    state->comm = comms[d];
    group.emplace_back(new NcclCommunicator(std::move(state), d, num_devices, d));
  }
  for (auto& comm : group) {
    IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(comm->device_));
    IAK_CUDA_RETURN_IF_ERROR(
        cudaStreamCreateWithFlags(&comm->state_->stream, cudaStreamNonBlocking));
  }
  return group;
}

Status NcclCommunicator::Wait(Deadline deadline, const char* what) {
  while (true) {
    ncclResult_t async = ncclSuccess;
    IAK_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(state_->comm, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      state_->broken = true;
      return NcclStatus(async, what);
    }
    if (async == ncclSuccess) {
      const cudaError_t done = cudaStreamQuery(state_->stream);
      if (done == cudaSuccess) return Status::Ok();
      if (done != cudaErrorNotReady) {
        state_->broken = true;
        return cuda::CudaStatus(static_cast<int>(done), what);
      }
    }
    if (deadline.Expired()) {
      state_->broken = true;
      TearDown(state_->comm, /*broken=*/true, rank_, size_);
      state_->comm = nullptr;
      return DeadlineExceededError(std::string("NCCL: ") + what + " on rank " +
                                   std::to_string(rank_) + " of " + std::to_string(size_) +
                                   " ran past its deadline (a rank is stuck or gone); "
                                   "the group must be rebuilt");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status NcclCommunicator::Reduce(size_t n, const std::function<Status()>& reduce) {
  if (state_->broken || state_->comm == nullptr) {
    return FailedPreconditionError("NCCL: communicator of rank " + std::to_string(rank_) +
                                   " failed earlier; rebuild the group");
  }
  if (n == 0) return Status::Ok();
  Status reduced = [&]() -> Status {
    IAK_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    return reduce();
  }();
  // Any failure, also one refused at enqueue, leaves the group unusable
  // (and the destructor then aborts it instead of waiting for the peers).
  if (!reduced.ok()) state_->broken = true;
  return reduced;
}

Status NcclCommunicator::AllReduceSumOnDevice(float* device_data, size_t n,
                                              Deadline deadline) {
  return Reduce(n, [&]() -> Status {
    IAK_NCCL_RETURN_IF_ERROR(ncclAllReduce(device_data, device_data, n, ncclFloat32, ncclSum,
                                           state_->comm, state_->stream));
    return Wait(deadline, "ncclAllReduce");
  });
}

Status NcclCommunicator::AllReduceSum(float* data, size_t n, Deadline deadline) {
  return Reduce(n, [&]() -> Status {
    IAK_RETURN_IF_ERROR(state_->pinned_buffer.Reserve(n));
    IAK_RETURN_IF_ERROR(state_->device_buffer.Reserve(n));
    float* pinned = state_->pinned_buffer.data();
    float* device = state_->device_buffer.data();
    std::memcpy(pinned, data, sizeof(float) * n);
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(device, pinned, sizeof(float) * n,
                                             cudaMemcpyHostToDevice, state_->stream));
    IAK_NCCL_RETURN_IF_ERROR(ncclAllReduce(device, device, n, ncclFloat32, ncclSum,
                                           state_->comm, state_->stream));
    // The copy back is queued only once the collective is done: on a
    // non-blocking communicator the all-reduce may not even be on the stream
    // yet when ncclAllReduce returns, so a copy queued now could overtake it.
    IAK_RETURN_IF_ERROR(Wait(deadline, "ncclAllReduce"));
    IAK_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(pinned, device, sizeof(float) * n,
                                             cudaMemcpyDeviceToHost, state_->stream));
    IAK_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(state_->stream));
    std::memcpy(data, pinned, sizeof(float) * n);
    return Status::Ok();
  });
}

}  // namespace iak::collective
