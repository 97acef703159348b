// MPI collectives for workers started by mpirun. MPI itself has no timeouts,
// so the all-reduce is non-blocking (MPI_Iallreduce) and polled until the
// deadline; past it the caller gets DeadlineExceeded and should abort the
// job (a stuck MPI collective cannot be cancelled).
//
// MPI_Finalize (in the destructor) waits for every rank; a stopped or wedged
// peer would keep this process, and mpirun, alive for good. It therefore
// runs under a watchdog (collective/bounded_shutdown.h): past
// finalize_timeout the process logs why and _exits with code 1, which makes
// mpirun end the rest of the job.
//
// Thread-safety: one thread per process drives the communicator.
#ifndef IAK_COLLECTIVE_MPI_COMMUNICATOR_H_
#define IAK_COLLECTIVE_MPI_COMMUNICATOR_H_

#include <memory>

#include "common/clock.h"

#include "collective/communicator.h"

namespace iak::collective {

struct MpiCommunicatorOptions {
  // How long MPI_Finalize may take before the process exits without it.
  // Default 10 s.
  Duration finalize_timeout = Duration(10000);
};

class MpiCommunicator : public Communicator {
 public:
  // Initialises MPI (once per process) and wraps MPI_COMM_WORLD.
  static StatusOr<std::unique_ptr<MpiCommunicator>> Create(
      int* argc, char*** argv, MpiCommunicatorOptions options = MpiCommunicatorOptions());
  ~MpiCommunicator() override;  // finalises MPI, bounded by finalize_timeout

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(float* data, size_t n, Deadline deadline) override;
  std::string backend() const override { return "mpi"; }

  // True when this process was started by mpirun (OMPI/PMI variables set).
  static bool LaunchedByMpirun();

 private:
  MpiCommunicator(int rank, int size, MpiCommunicatorOptions options)
      : rank_(rank), size_(size), options_(options) {}
  int rank_;
  int size_;
  MpiCommunicatorOptions options_;
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_MPI_COMMUNICATOR_H_
