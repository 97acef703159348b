#include "collective/communicator.h"

namespace iak::collective {

Status Communicator::AllReduceMean(float* data, size_t n, Deadline deadline) {
  IAK_RETURN_IF_ERROR(AllReduceSum(data, n, deadline));
  const float scale = 1.0f / static_cast<float>(size());
  for (size_t i = 0; i < n; ++i) data[i] *= scale;
  return Status::Ok();
}

}  // namespace iak::collective
