#include "worker/adapter_restore.h"

#include <algorithm>

namespace iak::worker {

Status RestoreAdapters(const LoadedCheckpoint& loaded, const std::vector<std::string>& names,
                       std::vector<model::IakModule>* adapters,
                       std::vector<model::Adam>* optimizers) {
  const Checkpoint& c = loaded.checkpoint;
  if (c.domains.size() != names.size()) {
    return FailedPreconditionError(loaded.path + " holds " + std::to_string(c.domains.size()) +
                                   " domain(s) but the job trains " +
                                   std::to_string(names.size()) + kResumeFix);
  }
  for (size_t d = 0; d < names.size(); ++d) {
    const DomainCheckpoint& dc = c.domains[d];
    model::IakModule& adapter = (*adapters)[d];
    if (dc.domain != names[d] || dc.params.size() != adapter.num_params()) {
      return FailedPreconditionError(
          loaded.path + ": domain " + std::to_string(d) + " is '" + dc.domain + "' with " +
          std::to_string(dc.params.size()) + " parameters, the job has '" + names[d] + "' with " +
          std::to_string(adapter.num_params()) + kResumeFix);
    }
    std::copy(dc.params.begin(), dc.params.end(), adapter.mutable_params());
    IAK_RETURN_IF_ERROR((*optimizers)[d].Deserialize(dc.adam_state).WithContext(
        loaded.path + " domain " + dc.domain));
  }
  return Status::Ok();
}

}  // namespace iak::worker
