// MPI collectives for workers started by mpirun. MPI itself has no timeouts,
// so the all-reduce is non-blocking (MPI_Iallreduce) and polled until the
// deadline; past it the caller gets DeadlineExceeded and should abort the
// job (a stuck MPI collective cannot be cancelled).
//
// Thread-safety: one thread per process drives the communicator.
#ifndef IAK_COLLECTIVE_MPI_COMMUNICATOR_H_
#define IAK_COLLECTIVE_MPI_COMMUNICATOR_H_

#include <memory>

#include "collective/communicator.h"

namespace iak::collective {

class MpiCommunicator : public Communicator {
 public:
  // Initialises MPI (once per process) and wraps MPI_COMM_WORLD.
  static StatusOr<std::unique_ptr<MpiCommunicator>> Create(int* argc, char*** argv);
  ~MpiCommunicator() override;  // finalises MPI

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(float* data, size_t n, Deadline deadline) override;
  std::string backend() const override { return "mpi"; }

  // True when this process was started by mpirun (OMPI/PMI variables set).
  static bool LaunchedByMpirun();

 private:
  MpiCommunicator(int rank, int size) : rank_(rank), size_(size) {}
  int rank_;
  int size_;
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_MPI_COMMUNICATOR_H_
