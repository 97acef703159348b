// How `iak scale` asks a local/mpirun supervisor for more worker processes:
// <run_dir>/scale.request holds "<sequence> <num_workers>\n", written
// atomically. The supervisor checks the file at every tick of its watch loop
// and acts once per new sequence number: it starts `iak worker` processes
// until as many of the job's workers run as asked (fewer: nothing to start;
// the scheduler tells the surplus workers to leave).
#ifndef IAK_CLUSTER_SCALE_REQUEST_FILE_H_
#define IAK_CLUSTER_SCALE_REQUEST_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace iak::cluster {

struct ScaleFileRequest {
  // One more than the previous request's; the supervisor acts once per value.
  int64_t sequence = 0;
  // How many of the job's workers should run (not how many to add).
  int num_workers = 0;
};

std::string ScaleRequestPath(const std::string& run_dir);

// The request in the file; nullopt when there is none (or it is unreadable:
// a half-written file cannot happen, writes are atomic).
std::optional<ScaleFileRequest> ReadScaleRequest(const std::string& run_dir);

// Writes a request with the next sequence number (the file's + 1) and
// returns it.
[[nodiscard]] StatusOr<ScaleFileRequest> AppendScaleRequest(const std::string& run_dir,
                                                            int num_workers);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_SCALE_REQUEST_FILE_H_
