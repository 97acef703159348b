// The state file of a submitted job, <output_dir>/job_state.pbtxt: written by
// `iak submit` and its supervisor, read by `iak status`, `iak cancel` and
// `iak logs`. Writes are atomic (temp file + rename), so a reader never sees
// half a file.
#ifndef IAK_CLUSTER_JOB_STATE_H_
#define IAK_CLUSTER_JOB_STATE_H_

#include <string>

#include "common/status.h"
#include "proto/job_spec.pb.h"

namespace iak::cluster {

std::string JobStatePath(const std::string& output_dir);

[[nodiscard]] Status WriteJobState(const std::string& output_dir, const proto::JobState& state);
// NotFound (with what to do) when the job was never submitted there.
[[nodiscard]] StatusOr<proto::JobState> ReadJobState(const std::string& output_dir);

// Seconds since the epoch, for the state file.
int64_t NowSeconds();

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_JOB_STATE_H_
