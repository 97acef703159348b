// GlooCommunicator: collectives over Gloo's TCP transport, for CPU workers of
// an elastic job. Unlike MPI, a Gloo group is formed at run time through a
// rendezvous Store, so the job can form a new group of a different size at
// each membership epoch (docs/elastic.md) without restarting any process.
//
// Forming a group: every rank calls Create() with the same store, size and
// options.prefix (e.g. "epoch-7/"); each publishes its TCP address under the
// prefix, waits for all others and connects to each. A rank that never
// arrives makes Create() return DeadlineExceeded naming the missing key.
//
// Failures: a collective that fails (a peer died, the deadline passed) leaves
// the group unusable, because Gloo's pairs are closed after an error; every
// later call returns FailedPrecondition at once. The caller re-forms a group
// (a new prefix) with the ranks that remain.
//
// Thread-safety: one thread per rank drives a GlooCommunicator.
#ifndef IAK_COLLECTIVE_GLOO_COMMUNICATOR_H_
#define IAK_COLLECTIVE_GLOO_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "collective/communicator.h"
#include "collective/rendezvous_store.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace iak::collective {

struct GlooOptions {
  // The address this rank's TCP transport binds to and publishes: a local
  // interface's address, reachable by the other ranks. Default "127.0.0.1"
  // (every rank on one host).
  std::string hostname = "127.0.0.1";
  // A network interface name ("eth0"); when set it wins over hostname.
  std::string iface;
  // Prefix of this group's rendezvous keys; one per membership epoch so
  // groups of different epochs never read each other's addresses. Default "".
  std::string prefix;
};

class GlooCommunicator : public Communicator {
 public:
  // Forms the group (see above); `store` (not owned) is used only during this
  // call. InvalidArgument for a rank outside [0, size); DeadlineExceeded
  // when a rank does not arrive in time; Unavailable when a peer cannot be
  // reached or the transport cannot bind.
  [[nodiscard]] static StatusOr<std::unique_ptr<GlooCommunicator>> Create(
      Store* store, int rank, int size, const GlooOptions& options, Deadline deadline);

  ~GlooCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(float* data, size_t n, Deadline deadline) override;
  std::string backend() const override { return "gloo"; }

  // False after a failed collective: the group must be re-formed.
  bool healthy() const { return broken_.empty(); }

 private:
  GlooCommunicator(std::shared_ptr<gloo::Context> context, int rank, int size,
                   std::string prefix);

  std::shared_ptr<gloo::Context> context_;
  int rank_;
  int size_;
  std::string prefix_;
  uint32_t next_tag_ = 0;  // one per collective, identical on every rank
  std::string broken_;     // why the group is unusable; empty while healthy
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_GLOO_COMMUNICATOR_H_
