// `iak scale <job> --workers=N`: a new worker count for a running elastic job.
//
// It finds the job's scheduler in the job state (<output_dir>/job_state.pbtxt,
// written by the supervisor; else <log_dir>/scheduler.address), sends it a
// ScaleRequest and prints the ScaleResponse. Under the local and mpirun
// launchers it then asks the job's supervisor for the worker processes a
// scale-up needs (cluster/scale_request_file.h): the supervisor owns every
// process of the job, so cancel, restart and the end of the job cover the new
// workers too (docs/operations.md, "Scaling a running job").
#include <gflags/gflags.h>
#include <signal.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cluster/job_state.h"
#include "cluster/scale_request_file.h"
#include "common/file_util.h"
#include "job/job_spec.h"
#include "net/rpc.h"
#include "net/zmq_transport.h"

DECLARE_int32(workers);  // cli/demo_command.cc; `iak scale` requires it explicitly
DEFINE_int32(scale_timeout_ms, 5000,
             "scale: how long to wait for the scheduler's answer before giving up");

namespace iak::cli {
namespace {

// The job's output_dir from an argument that is either that directory or its
// spec.
StatusOr<std::string> JobDir(int argc, char** argv) {
  const std::string target = argc >= 2 ? argv[1] : FLAGS_job;
  if (target.empty()) {
    return InvalidArgumentError("name the job: iak scale <output_dir or job.pbtxt> --workers=N");
  }
  if (std::filesystem::is_directory(target)) return target;
  if (!std::filesystem::exists(target)) {
    return NotFoundError("unknown job '" + target +
                         "': neither a job's output directory nor a job spec");
  }
  IAK_ASSIGN_OR_RETURN(proto::JobSpec spec, job::LoadJobSpec(target));
  return spec.output_dir();
}

// Where the running scheduler listens.
StatusOr<std::string> SchedulerAddress(const proto::JobState& state) {
  if (!state.scheduler_address().empty()) return state.scheduler_address();
  std::string address;
  if (ReadFileToString(state.log_dir() + "/scheduler.address", &address).ok() &&
      !address.empty()) {
    return address;
  }
  return FailedPreconditionError("job " + state.job_name() +
                                 " has no scheduler address recorded (job state or " +
                                 state.log_dir() + "/scheduler.address); is it still starting?");
}

Status Scale(int argc, char** argv) {
  if (gflags::GetCommandLineFlagInfoOrDie("workers").is_default || FLAGS_workers < 1) {
    return InvalidArgumentError("--workers=N is required, N >= 1: iak scale <job> --workers=N");
  }
  if (FLAGS_scale_timeout_ms <= 0) {
    return InvalidArgumentError("--scale_timeout_ms must be > 0");
  }
  IAK_ASSIGN_OR_RETURN(std::string dir, JobDir(argc, argv));
  IAK_ASSIGN_OR_RETURN(proto::JobState state, cluster::ReadJobState(dir));
  const std::string job = "job " + state.job_name() + " (" + dir + ")";
  if (state.state() != "RUNNING") {
    return FailedPreconditionError(job + " is not running (" + state.state() +
                                   "); only a running job can be scaled");
  }
  if (state.supervisor_pid() > 0 && ::kill(state.supervisor_pid(), 0) != 0) {
    return FailedPreconditionError(job + " is not running: its supervisor, pid " +
                                   std::to_string(state.supervisor_pid()) + ", is gone");
  }
  IAK_ASSIGN_OR_RETURN(proto::JobSpec spec, job::LoadJobSpec(state.job_spec_path()));
  if (!spec.elastic().enabled()) {
    return FailedPreconditionError(
        job + " is not elastic (" + state.job_spec_path() +
        " has no `elastic { enabled: true }`): its workers are one fixed MPI group. Submit it "
        "with elastic enabled to change its worker count while it runs (docs/elastic.md)");
  }
  const int min_workers = std::max(1, spec.elastic().min_workers());
  const int max_workers =
      spec.elastic().max_workers() > 0 ? spec.elastic().max_workers() : spec.num_workers();
  if (FLAGS_workers < min_workers || FLAGS_workers > max_workers) {
    return InvalidArgumentError("--workers=" + std::to_string(FLAGS_workers) + " is outside [" +
                                std::to_string(min_workers) + ", " +
                                std::to_string(max_workers) +
                                "], the job's elastic.min_workers and elastic.max_workers (" +
                                state.job_spec_path() + ")");
  }
  IAK_ASSIGN_OR_RETURN(std::string address, SchedulerAddress(state));

  IAK_ASSIGN_OR_RETURN(net::ZmqTransportOptions transport_options, TransportOptionsFor(spec));
  net::ZmqTransport transport(transport_options);
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<net::Connection> connection, transport.Connect(address));
  net::RpcClient client(std::move(connection), "iak-scale");
  proto::Envelope request;
  request.mutable_scale_request()->set_num_workers(FLAGS_workers);
  StatusOr<net::RpcReply> reply =
      client.Call(request, {}, Deadline::After(Duration(FLAGS_scale_timeout_ms)));
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kDeadlineExceeded) {
      return DeadlineExceededError("the scheduler of " + job + " at " + address +
                                   " did not answer within " +
                                   std::to_string(FLAGS_scale_timeout_ms) +
                                   " ms; is the job still running? (iak status " + dir + ")");
    }
    return reply.status().WithContext("the scheduler of " + job + " at " + address);
  }
  if (!reply->header.has_scale_response()) {
    return InternalError("the scheduler at " + address + " answered the scale request with " +
                         "something else than a ScaleResponse");
  }
  const proto::ScaleResponse& response = reply->header.scale_response();
  std::cout << "job " << state.job_name() << ": workers " << response.previous_workers() << " -> "
            << response.target_workers() << " (membership epoch " << response.membership_epoch()
            << ")\n";
  if (state.launcher() == "local" || state.launcher() == "mpirun") {
    // The supervisor starts the missing worker processes.
    IAK_ASSIGN_OR_RETURN(cluster::ScaleFileRequest written,
                         cluster::AppendScaleRequest(state.log_dir(), response.target_workers()));
    if (response.target_workers() > response.previous_workers()) {
      std::cout << "the supervisor (pid " << state.supervisor_pid() << ") starts the new worker "
                << "process(es) (scale request " << written.sequence << "); logs in "
                << state.log_dir() << "/workers.log\n";
    }
  } else if (response.target_workers() > response.previous_workers()) {
    std::cout << "start " << response.target_workers() - response.previous_workers()
              << " more `iak worker --job=" << state.job_spec_path() << " --scheduler=" << address
              << "` process(es) under your " << state.launcher() << " launcher\n";
  }
  return Status::Ok();
}

}  // namespace

int RunScale(int argc, char** argv) {
  Status done = Scale(argc, argv);
  if (!done.ok()) return ReportError("scale", done);
  return 0;
}

}  // namespace iak::cli
