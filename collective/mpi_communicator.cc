#include "collective/mpi_communicator.h"

#include <mpi.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "collective/bounded_shutdown.h"

namespace iak::collective {

bool MpiCommunicator::LaunchedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(int* argc, char*** argv,
                                                                   MpiCommunicatorOptions options) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      return UnavailableError("MPI_Init failed; run the workers under mpirun");
    }
  }
  // Errors come back as codes, never abort the process behind our back.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(rank, size, options));
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  // Called on this (the main, MPI_THREAD_FUNNELED) thread; the watchdog makes
  // no MPI call.
  RunWithDeadline("MPI_Finalize on rank " + std::to_string(rank_) + " of " +
                      std::to_string(size_),
                  [] { MPI_Finalize(); }, options_.finalize_timeout, /*exit_code=*/1);
}

Status MpiCommunicator::AllReduceSum(float* data, size_t n, Deadline deadline) {
  MPI_Request request;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD, &request);
  if (rc != MPI_SUCCESS) {
    return UnavailableError("MPI_Iallreduce failed on rank " + std::to_string(rank_));
  }
  int done = 0;
  int spins = 0;
  while (true) {
    rc = MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      return UnavailableError("MPI all-reduce failed on rank " + std::to_string(rank_) +
                              ": a peer rank may have died");
    }
    if (done) return Status::Ok();
    if (deadline.Expired()) {
      return DeadlineExceededError("MPI all-reduce on rank " + std::to_string(rank_) +
                                   " did not complete before its deadline; a peer rank is "
                                   "stuck or dead");
    }
    // Spin briefly (the common case completes in microseconds), then yield the
    // core so a co-located rank can make progress.
    if (++spins > 1000) std::this_thread::yield();
  }
}

}  // namespace iak::collective
