// Flags shared by several `iak` subcommands.
#ifndef IAK_CLI_COMMON_FLAGS_H_
#define IAK_CLI_COMMON_FLAGS_H_

#include <gflags/gflags_declare.h>

#include <string>

#include "common/status.h"
#include "net/zmq_transport.h"
#include "proto/job_spec.pb.h"

DECLARE_string(job);
DECLARE_string(scheduler);

namespace iak::cli {

// Loads --job (defaults applied, validated); the error says what to fix.
[[nodiscard]] StatusOr<proto::JobSpec> LoadJobFromFlags();

// The ZeroMQ transport options a job's nodes use (CURVE keys when the spec's
// security section names a key file).
[[nodiscard]] StatusOr<net::ZmqTransportOptions> TransportOptionsFor(const proto::JobSpec& spec);

// Prints `status` for the user and returns the process exit code for it.
int ReportError(const std::string& command, const Status& status);

}  // namespace iak::cli

#endif  // IAK_CLI_COMMON_FLAGS_H_
