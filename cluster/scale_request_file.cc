#include "cluster/scale_request_file.h"

#include <sstream>

#include "common/file_util.h"

namespace iak::cluster {

std::string ScaleRequestPath(const std::string& run_dir) { return run_dir + "/scale.request"; }

std::optional<ScaleFileRequest> ReadScaleRequest(const std::string& run_dir) {
  std::string text;
  if (!ReadFileToString(ScaleRequestPath(run_dir), &text).ok()) return std::nullopt;
  std::istringstream in(text);
  ScaleFileRequest request;
  if (!(in >> request.sequence >> request.num_workers)) return std::nullopt;
  return request;
}

StatusOr<ScaleFileRequest> AppendScaleRequest(const std::string& run_dir, int num_workers) {
  ScaleFileRequest request;
  if (std::optional<ScaleFileRequest> previous = ReadScaleRequest(run_dir)) {
    request.sequence = previous->sequence;
  }
  ++request.sequence;
  request.num_workers = num_workers;
  IAK_RETURN_IF_ERROR(WriteFileAtomically(
      ScaleRequestPath(run_dir),
      std::to_string(request.sequence) + " " + std::to_string(num_workers) + "\n"));
  return request;
}

}  // namespace iak::cluster
