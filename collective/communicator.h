// Communicator: the collective operations workers use to combine the IAK
// adapter's gradients. One implementation per backend: MPI (static mpirun
// runs), in-process (ranks as threads, for tests and single-process runs).
//
// Every collective takes a Deadline: a dead or stuck rank yields
// DeadlineExceeded instead of a hang.
//
// Thread-safety: one thread per rank drives a Communicator.
#ifndef IAK_COLLECTIVE_COMMUNICATOR_H_
#define IAK_COLLECTIVE_COMMUNICATOR_H_

#include <cstddef>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace iak::collective {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums `data[0..n)` over all ranks, in place, on every rank.
  [[nodiscard]] virtual Status AllReduceSum(float* data, size_t n, Deadline deadline) = 0;
  // A short name for logs ("mpi", "inproc").
  virtual std::string backend() const = 0;

  // Sums then divides by size(): the mean gradient.
  [[nodiscard]] Status AllReduceMean(float* data, size_t n, Deadline deadline);
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_COMMUNICATOR_H_
