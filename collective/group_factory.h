// FormGroup: "a collective group for this membership epoch", whatever the
// backend. An elastic worker (worker/elastic_trainer.cc) calls it at every
// epoch boundary with the epoch's rendezvous prefix; it does not know whether
// the group runs over Gloo (CPU workers, the default) or NCCL (GPU workers,
// launcher.gpus_per_worker > 0).
//
// Backends:
//   "gloo" - GlooCommunicator::Create (needs libgloo-dev at build time).
//   "nccl" - CreateNcclThroughStore (collective/nccl_rendezvous.h); needs the
//            CUDA path at build time (IAK_WITH_CUDA, CUDA toolkit and NCCL
//            found) and a CUDA device at run time. Without either it is
//            refused at once with FailedPrecondition: "built without
//            CUDA/NCCL: rebuild with ..." or "... no CUDA device ...".
//
// Failure contract (what the elastic trainer relies on): once a collective
// of the returned group fails - a peer died, the deadline passed, any error
// - the group is unusable and every later call returns FailedPrecondition at
// once; the caller re-forms a group under a new prefix. Both backends hold
// it themselves (Gloo closes its pairs after an error; NCCL marks itself
// broken after any failed collective and aborts past a deadline); the
// returned wrapper gives the refusal one wording for both.
//
// Thread-safety: one thread per rank drives the returned Communicator.
#ifndef IAK_COLLECTIVE_GROUP_FACTORY_H_
#define IAK_COLLECTIVE_GROUP_FACTORY_H_

#include <memory>
#include <string>

#include "collective/communicator.h"
#include "collective/rendezvous_store.h"
#include "common/clock.h"
#include "common/status.h"

namespace iak::collective {

struct GroupOptions {
  // "gloo" or "nccl". Default "gloo".
  std::string backend = "gloo";
  // Gloo: the address this rank's TCP transport binds and publishes.
  std::string gloo_hostname = "127.0.0.1";
  // NCCL: the CUDA device of this rank. Default 0 (a worker that is handed
  // its GPU through CUDA_VISIBLE_DEVICES sees it as device 0).
  int device = 0;
};

// Forms rank `rank` of a group of `size` through `store` (not owned; used
// only during the call) under the key prefix `prefix` (one per epoch).
// InvalidArgument for an unknown backend or a bad rank/size;
// FailedPrecondition when the backend cannot run here (not built in, no
// device: retrying will not help); DeadlineExceeded when
// a rank does not arrive by `deadline`; Unavailable as the backend says.
[[nodiscard]] StatusOr<std::unique_ptr<Communicator>> FormGroup(const GroupOptions& options,
                                                                Store* store, int rank,
                                                                int size,
                                                                const std::string& prefix,
                                                                Deadline deadline);

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_GROUP_FACTORY_H_
