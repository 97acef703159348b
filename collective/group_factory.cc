#include "collective/group_factory.h"

#include <csignal>
#include <mutex>
#include <utility>

#include "common/build_config.h"
#if IAK_HAVE_GLOO
#include "collective/gloo_communicator.h"
#endif
#if IAK_HAVE_CUDA
#include "collective/nccl_rendezvous.h"
#include "cuda/cuda_status.h"
#endif

namespace iak::collective {
namespace {

// The failure contract of group_factory.h in one wording for both backends:
// after the first failed collective every call returns FailedPrecondition
// without reaching the backend.
class FailClosedCommunicator : public Communicator {
 public:
  explicit FailClosedCommunicator(std::unique_ptr<Communicator> inner)
      : inner_(std::move(inner)) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::string backend() const override { return inner_->backend(); }

  Status AllReduceSum(float* data, size_t n, Deadline deadline) override {
    if (!broken_.empty()) {
      return FailedPreconditionError(backend() + " group (rank " + std::to_string(rank()) +
                                     " of " + std::to_string(size()) +
                                     ") failed earlier and cannot be reused (" + broken_ +
                                     "); form a new group");
    }
    Status status = inner_->AllReduceSum(data, n, deadline);
    if (!status.ok()) broken_ = status.ToString();
    return status;
  }

 private:
  std::unique_ptr<Communicator> inner_;
  std::string broken_;  // the first failure; empty while healthy
};

#if IAK_HAVE_GLOO
// Gloo's TCP pairs write with plain writev, which raises SIGPIPE when the
// peer has gone; the default action would kill this process, while a dead
// peer must be an error of the collective (the group is then re-formed).
// Process-wide, once; every other socket of ours (ZeroMQ) already sends
// without the signal.
void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}
#endif

StatusOr<std::unique_ptr<Communicator>> FormBackend(const GroupOptions& options, Store* store,
                                                    int rank, int size,
                                                    const std::string& prefix,
                                                    Deadline deadline) {
  if (options.backend == "gloo") {
#if IAK_HAVE_GLOO
    IgnoreSigpipe();
    GlooOptions gloo;
    gloo.hostname = options.gloo_hostname;
    gloo.prefix = prefix;
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<GlooCommunicator> comm,
                         GlooCommunicator::Create(store, rank, size, gloo, deadline));
    return std::unique_ptr<Communicator>(std::move(comm));
#else
    (void)store, (void)rank, (void)size, (void)prefix, (void)deadline;
    return FailedPreconditionError(
        "collective backend 'gloo': built without Gloo: install libgloo-dev "
        "(tools/install_deps.sh) and rebuild with -DIAK_WITH_GLOO=ON");
#endif
  }
  if (options.backend == "nccl") {
#if IAK_HAVE_CUDA
    // Checked here too so that "this machine cannot run the backend" is a
    // FailedPrecondition (not worth retrying), unlike a peer's Unavailable.
    StatusOr<int> devices = cuda::DeviceCount();
    if (!devices.ok()) {
      return FailedPreconditionError(
          "collective backend 'nccl': no CUDA device: " + devices.status().ToString() +
          "; run GPU workers on a host with a GPU, or set launcher.gpus_per_worker to 0 for "
          "CPU (Gloo) workers");
    }
    IAK_ASSIGN_OR_RETURN(
        std::unique_ptr<NcclCommunicator> comm,
        CreateNcclThroughStore(store, rank, size, options.device, prefix, deadline));
    return std::unique_ptr<Communicator>(std::move(comm));
#else
    (void)store, (void)rank, (void)size, (void)prefix, (void)deadline;
    return FailedPreconditionError(
        "collective backend 'nccl': built without CUDA/NCCL: rebuild with "
        "-DIAK_WITH_CUDA=ON on a machine with the CUDA toolkit and NCCL "
        "(/usr/local/cuda), or set launcher.gpus_per_worker to 0 for CPU (Gloo) workers");
#endif
  }
  return InvalidArgumentError("unknown collective backend '" + options.backend +
                              "' (expected 'gloo' or 'nccl')");
}

}  // namespace

StatusOr<std::unique_ptr<Communicator>> FormGroup(const GroupOptions& options, Store* store,
                                                  int rank, int size,
                                                  const std::string& prefix,
                                                  Deadline deadline) {
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm,
                       FormBackend(options, store, rank, size, prefix, deadline));
  return std::unique_ptr<Communicator>(new FailClosedCommunicator(std::move(comm)));
}

}  // namespace iak::collective
