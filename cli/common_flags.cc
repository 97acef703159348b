#include "cli/common_flags.h"

#include <gflags/gflags.h>

#include <iostream>

#include "job/job_spec.h"

DEFINE_string(job, "", "path of the job spec (job.pbtxt; see docs/job_spec.md)");
DEFINE_string(scheduler, "",
              "scheduler address (tcp://host:port) for ps and worker; a ps without one serves "
              "standalone until Ctrl-C");

namespace iak::cli {

StatusOr<proto::JobSpec> LoadJobFromFlags() {
  if (FLAGS_job.empty()) {
    return InvalidArgumentError("--job is required: the path of a job spec (job.pbtxt)");
  }
  return job::LoadJobSpec(FLAGS_job);
}

StatusOr<net::ZmqTransportOptions> TransportOptionsFor(const proto::JobSpec& spec) {
  net::ZmqTransportOptions options;
  if (!spec.security().curve_key_file().empty()) {
    IAK_ASSIGN_OR_RETURN(options.curve, net::ReadCurveKeyFile(spec.security().curve_key_file()));
  }
  return options;
}

int ReportError(const std::string& command, const Status& status) {
  std::cerr << "iak " << command << ": error: " << status.ToString() << "\n";
  return status.code() == StatusCode::kCancelled ? 130 : 1;
}

}  // namespace iak::cli
