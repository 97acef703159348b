#include "cluster/job_state.h"

#include <google/protobuf/text_format.h>

#include <chrono>

#include "common/file_util.h"

namespace iak::cluster {

std::string JobStatePath(const std::string& output_dir) {
  return output_dir + "/job_state.pbtxt";
}

Status WriteJobState(const std::string& output_dir, const proto::JobState& state) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(state, &text)) {
    return InternalError("cannot print the job state");
  }
  return WriteFileAtomically(JobStatePath(output_dir), text);
}

StatusOr<proto::JobState> ReadJobState(const std::string& output_dir) {
  const std::string path = JobStatePath(output_dir);
  std::string text;
  Status read = ReadFileToString(path, &text);
  if (!read.ok()) {
    return NotFoundError("no job state at " + path +
                         "; was the job submitted with `iak submit` to this output_dir?");
  }
  proto::JobState state;
  if (!google::protobuf::TextFormat::ParseFromString(text, &state)) {
    return DataLossError(path + " is not a job state file; it may have been edited by hand");
  }
  return state;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace iak::cluster
