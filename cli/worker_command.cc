// `iak worker`: one fine-tuning worker; under mpirun, one per rank.
#include <gflags/gflags.h>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "collective/inproc_communicator.h"
#include "collective/mpi_communicator.h"
#include "net/zmq_transport.h"
#include "worker/worker.h"

DEFINE_int32(progress_every, 50, "log a progress line every N steps (rank 0)");
DEFINE_int32(rank_hint, -1,
             "elastic jobs: preferred rank in the first membership epoch (-1 = none); the "
             "scheduler assigns ranks");
DEFINE_string(gloo_hostname, "127.0.0.1",
              "elastic jobs: the address this worker's Gloo transport binds and publishes "
              "(reachable by the other workers)");
DECLARE_bool(resume);  // cli/submit_command.cc

namespace iak::cli {

int RunWorker(int argc, char** argv) {
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("worker", spec.status());
  const std::string scheduler = FLAGS_scheduler;
  if (scheduler.empty()) {
    return ReportError("worker", InvalidArgumentError("--scheduler is required"));
  }
  // Under mpirun the MPI world is the collective group; a lone worker is a
  // group of one. An elastic worker forms Gloo groups itself, per membership
  // epoch, and gets its rank from the scheduler (docs/elastic.md).
  const bool elastic = spec->elastic().enabled();
  std::unique_ptr<collective::Communicator> communicator;
  if (elastic) {
    // No communicator: see worker::Worker.
  } else if (collective::MpiCommunicator::LaunchedByMpirun()) {
    StatusOr<std::unique_ptr<collective::MpiCommunicator>> mpi =
        collective::MpiCommunicator::Create(&argc, &argv);
    if (!mpi.ok()) return ReportError("worker", mpi.status());
    communicator = std::move(mpi).value();
  } else {
    communicator = std::make_unique<collective::InProcCommunicator>(
        std::make_shared<collective::InProcGroup>(1), 0);
  }
  if (!elastic && communicator->size() != spec->num_workers()) {
    return ReportError("worker", InvalidArgumentError(
                                     "the job spec asks for " +
                                     std::to_string(spec->num_workers()) + " workers but " +
                                     std::to_string(communicator->size()) +
                                     " were started; use mpirun -np " +
                                     std::to_string(spec->num_workers())));
  }
  worker::WorkerOptions options;
  options.spec = *spec;
  if (FLAGS_resume) options.spec.mutable_checkpoint()->set_resume(true);
  options.scheduler_address = scheduler;
  options.progress_every = FLAGS_progress_every;
  options.rank_hint = FLAGS_rank_hint;
  options.gloo_hostname = FLAGS_gloo_hostname;
  StatusOr<net::ZmqTransportOptions> transport_options = TransportOptionsFor(*spec);
  if (!transport_options.ok()) return ReportError("worker", transport_options.status());
  net::ZmqTransport transport(*transport_options);
  worker::Worker worker(options, &transport, communicator.get());
  Status done = worker.Run(stop);
  if (!done.ok()) return ReportError("worker", done);
  return 0;
}

}  // namespace iak::cli
