#include "collective/nccl_rendezvous.h"

#include <utility>

#include "cuda/cuda_status.h"

namespace iak::collective {

std::string NcclIdKey(const std::string& prefix) { return prefix + "nccl-id"; }

StatusOr<std::unique_ptr<NcclCommunicator>> CreateNcclThroughStore(
    Store* store, int rank, int size, int device, const std::string& prefix,
    Deadline deadline) {
  const std::string who = "nccl group '" + prefix + "' (rank " + std::to_string(rank) + " of " +
                          std::to_string(size) + ")";
  if (size < 1 || rank < 0 || rank >= size) {
    return InvalidArgumentError(who + ": rank must be in [0, size) and size at least 1");
  }
  StatusOr<int> devices = cuda::DeviceCount();
  if (!devices.ok()) {
    return UnavailableError(who + ": no CUDA device: " + devices.status().ToString() +
                            "; run GPU workers on a host with a GPU, or set "
                            "launcher.gpus_per_worker to 0 for CPU (Gloo) workers");
  }
  if (device < 0 || device >= *devices) {
    return InvalidArgumentError(who + ": CUDA device " + std::to_string(device) +
                                " is not visible (" + std::to_string(*devices) +
                                " visible); check CUDA_VISIBLE_DEVICES");
  }
  NcclOptions options;
  options.device = device;
  options.rank = rank;
  options.size = size;
  const std::string key = NcclIdKey(prefix);
  if (rank == 0) {
    IAK_ASSIGN_OR_RETURN(options.unique_id, NcclCommunicator::NewUniqueId());
    IAK_RETURN_IF_ERROR(store->Set(key, options.unique_id, deadline).WithContext(who));
  } else {
    StatusOr<std::string> id = store->Get(key, deadline);
    if (!id.ok()) return id.status().WithContext(who + " waiting for rank 0's group id");
    options.unique_id = std::move(id).value();
  }
  StatusOr<std::unique_ptr<NcclCommunicator>> comm = NcclCommunicator::Create(options, deadline);
  if (!comm.ok()) return comm.status().WithContext(who);
  return comm;
}

}  // namespace iak::collective
