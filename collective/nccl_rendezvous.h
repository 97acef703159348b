// Forming an NCCL group through a rendezvous Store (rendezvous_store.h), the
// way an elastic job forms a Gloo group: once per membership epoch, with the
// epoch's key prefix, so GPU workers get a fresh communicator of the new
// size at every epoch boundary without restarting any process.
//
// Rank 0 makes the group id (NcclCommunicator::NewUniqueId) and sets it
// under "<prefix>nccl-id"; every other rank waits for that key with the
// deadline; then every rank joins with NcclCommunicator::Create under the
// same deadline. Nothing is touched before the arguments and the device are
// checked, so a rank 0 without a usable device never publishes an id.
//
// Built only with the CUDA path (IAK_HAVE_CUDA); collective/group_factory.h
// is the backend-neutral entry point and says so when it is not built.
//
// Thread-safety: as NcclCommunicator::Create (one thread per rank).
#ifndef IAK_COLLECTIVE_NCCL_RENDEZVOUS_H_
#define IAK_COLLECTIVE_NCCL_RENDEZVOUS_H_

#include <memory>
#include <string>

#include "collective/nccl_communicator.h"
#include "collective/rendezvous_store.h"
#include "common/clock.h"
#include "common/status.h"

namespace iak::collective {

// The key rank 0 sets the group id under: "<prefix>nccl-id".
std::string NcclIdKey(const std::string& prefix);

// Joins rank `rank` of a group of `size` on CUDA device `device` through
// `store` (not owned; used only during the call). InvalidArgument for a bad
// rank/size or a device that is not visible; Unavailable when no CUDA device
// can be used; DeadlineExceeded when rank 0's id or a peer does not arrive by
// `deadline`.
[[nodiscard]] StatusOr<std::unique_ptr<NcclCommunicator>> CreateNcclThroughStore(
    Store* store, int rank, int size, int device, const std::string& prefix,
    Deadline deadline);

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_NCCL_RENDEZVOUS_H_
