// RestoreAdapters: puts a loaded checkpoint's adapters and Adam states back
// into a job's (static workers and elastic trainers alike), after checking
// that the file belongs to this job: the same domains, in the same order,
// with adapters of the same shape.
#ifndef IAK_WORKER_ADAPTER_RESTORE_H_
#define IAK_WORKER_ADAPTER_RESTORE_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "model/adam.h"
#include "model/iak_module.h"
#include "worker/checkpoint.h"

namespace iak::worker {

// What every refusal tells the user to do.
inline constexpr char kResumeFix[] =
    "; resume only with the job spec that wrote it, or remove the directory";

// FailedPrecondition naming the file when the domains or shapes differ;
// a bad Adam blob's error with the file and domain.
[[nodiscard]] Status RestoreAdapters(const LoadedCheckpoint& loaded,
                                     const std::vector<std::string>& names,
                                     std::vector<model::IakModule>* adapters,
                                     std::vector<model::Adam>* optimizers);

}  // namespace iak::worker

#endif  // IAK_WORKER_ADAPTER_RESTORE_H_
