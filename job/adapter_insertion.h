// Where a job's adapter sits in the frozen model (JobSpec.iak.insertion):
// on h, the bottom MLP's output (the default); on the pooled embedding input
// x; or on the CTR tower's first hidden layer. The job spec names it, so the
// names are checked with the rest of the spec (job::Validate), before any
// node starts; worker/adapter_model.h says what each insertion trains.
#ifndef IAK_JOB_ADAPTER_INSERTION_H_
#define IAK_JOB_ADAPTER_INSERTION_H_

#include <string>

#include "common/status.h"

namespace iak::job {

enum class AdapterInsertion { kH, kX, kTower };

const char* AdapterInsertionName(AdapterInsertion insertion);

// "" and "h" -> kH; InvalidArgument listing the valid names otherwise.
[[nodiscard]] StatusOr<AdapterInsertion> ParseAdapterInsertion(const std::string& name);

}  // namespace iak::job

#endif  // IAK_JOB_ADAPTER_INSERTION_H_
