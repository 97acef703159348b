// PhaseName: the word for a training phase in logs, progress lines and
// metrics labels ("compression", "matching", "finished"), one spelling for
// the scheduler and the workers.
#ifndef IAK_SCHEDULER_PHASE_NAME_H_
#define IAK_SCHEDULER_PHASE_NAME_H_

#include "proto/job_spec.pb.h"

namespace iak::scheduler {

// `unset` is returned for PHASE_UNSPECIFIED (and any value this build does
// not know).
const char* PhaseName(proto::Phase phase, const char* unset = "unspecified");

}  // namespace iak::scheduler

#endif  // IAK_SCHEDULER_PHASE_NAME_H_
