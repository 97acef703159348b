// `iak scheduler`: runs one job's scheduler until the job ends.
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "embedding/file_util.h"
#include "net/zmq_transport.h"
#include "scheduler/scheduler.h"

DEFINE_string(listen, "tcp://127.0.0.1:0",
              "address to listen on; port 0 picks a free port (see --address_file)");
DEFINE_string(address_file, "",
              "if set, write the address the scheduler listens on to this file once it is up");

namespace iak::cli {

int RunScheduler(int, char**) {
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("scheduler", spec.status());
  scheduler::SchedulerOptions options;
  options.listen_address = FLAGS_listen;
  options.num_servers = spec->num_servers();
  options.num_workers = spec->num_workers();
  options.heartbeat_interval = Duration(spec->timeouts().heartbeat_interval_ms());
  options.heartbeat_timeout = Duration(spec->timeouts().heartbeat_timeout_ms());
  options.startup_timeout = Duration(spec->timeouts().startup_timeout_ms());
  options.plan.assign(spec->phases().begin(), spec->phases().end());
  net::ZmqTransport transport;
  scheduler::Scheduler scheduler(options, &transport);
  Status started = scheduler.Start();
  if (!started.ok()) return ReportError("scheduler", started);
  LOG(INFO) << "scheduler for job " << spec->name() << " listening at " << scheduler.address()
            << ": waiting for " << options.num_servers << " server(s) and "
            << options.num_workers << " worker(s)";
  if (!FLAGS_address_file.empty()) {
    Status written = embedding::WriteFileAtomically(FLAGS_address_file, scheduler.address());
    if (!written.ok()) return ReportError("scheduler", written);
  }
  Status done = scheduler.Run(stop);
  if (!done.ok()) return ReportError("scheduler", done);
  LOG(INFO) << "job " << spec->name() << " finished";
  return 0;
}

}  // namespace iak::cli
