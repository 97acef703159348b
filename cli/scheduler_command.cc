// `iak scheduler`: runs one job's scheduler until the job ends.
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "common/file_util.h"
#include "net/http_server.h"
#include "net/zmq_transport.h"
#include "scheduler/scheduler.h"

DEFINE_string(listen, "tcp://127.0.0.1:0",
              "address to listen on; port 0 picks a free port (see --address_file)");
DEFINE_int32(metrics_port, -1,
             "serve Prometheus metrics at http://<metrics_host>:<port>/metrics; 0 = a free port, "
             "-1 = the job spec's metrics_port (off when unset)");
DEFINE_string(metrics_host, "127.0.0.1", "address the metrics endpoint listens on");
DEFINE_string(address_file, "",
              "if set, write the address the scheduler listens on to this file once it is up");

namespace iak::cli {

int RunScheduler(int, char**) {
  // A port past 65535 was truncated to another port, not refused.
  if (FLAGS_metrics_port < -1 || FLAGS_metrics_port > 65535) {
    return ReportError("scheduler", InvalidArgumentError(
                                        "--metrics_port must be in [0, 65535] (0 = a free port), "
                                        "or -1 for the job spec's, got " +
                                        std::to_string(FLAGS_metrics_port)));
  }
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("scheduler", spec.status());
  scheduler::SchedulerOptions options;
  options.listen_address = FLAGS_listen;
  options.num_servers = spec->num_servers();
  options.replicas_per_shard = std::max(1, spec->replicas_per_shard());
  options.num_workers = spec->num_workers();
  options.heartbeat_interval = Duration(spec->timeouts().heartbeat_interval_ms());
  options.heartbeat_timeout = Duration(spec->timeouts().heartbeat_timeout_ms());
  options.startup_timeout = Duration(spec->timeouts().startup_timeout_ms());
  options.plan.assign(spec->phases().begin(), spec->phases().end());
  options.elastic = scheduler::ElasticOptionsFor(*spec);  // off unless elastic.enabled
  scheduler::JobMetrics metrics(spec->name());
  options.metrics = &metrics;
  // Prometheus scrapes /metrics; everything else is 404.
  net::HttpServer http([&metrics](const std::string& path) {
    if (path != "/metrics") return net::HttpResponse{404, "text/plain", "try /metrics\n"};
    return net::HttpResponse{200, "text/plain; version=0.0.4", metrics.RenderPrometheus()};
  });
  const int metrics_port = FLAGS_metrics_port >= 0 ? FLAGS_metrics_port : spec->metrics_port();
  if (FLAGS_metrics_port >= 0 || spec->metrics_port() > 0) {
    Status serving = http.Start(FLAGS_metrics_host, metrics_port);
    if (!serving.ok()) return ReportError("scheduler", serving);
    LOG(INFO) << "metrics at http://" << FLAGS_metrics_host << ":" << http.port() << "/metrics";
  }
  StatusOr<net::ZmqTransportOptions> transport_options = TransportOptionsFor(*spec);
  if (!transport_options.ok()) return ReportError("scheduler", transport_options.status());
  net::ZmqTransport transport(*transport_options);
  scheduler::Scheduler scheduler(options, &transport);
  Status started = scheduler.Start();
  if (!started.ok()) return ReportError("scheduler", started);
  LOG(INFO) << "scheduler for job " << spec->name() << " listening at " << scheduler.address()
            << ": waiting for " << options.num_servers << " server(s) and "
            << options.num_workers << " worker(s)";
  if (!FLAGS_address_file.empty()) {
    Status written = WriteFileAtomically(FLAGS_address_file, scheduler.address());
    if (!written.ok()) return ReportError("scheduler", written);
  }
  Status done = scheduler.Run(stop);
  if (!done.ok()) return ReportError("scheduler", done);
  LOG(INFO) << "job " << spec->name() << " finished";
  return 0;
}

}  // namespace iak::cli
