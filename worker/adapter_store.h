// Adapter files: one IAK adapter per domain, `<dir>/<domain>.iak`, written
// atomically (temp file, fsync, rename) so a crash never leaves half a file.
// The module's own format carries a magic number and sizes, so a truncated or
// foreign file is refused on load with an error naming it.
#ifndef IAK_WORKER_ADAPTER_STORE_H_
#define IAK_WORKER_ADAPTER_STORE_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "model/iak_module.h"

namespace iak::worker {

std::string AdapterPath(const std::string& dir, const std::string& domain);

// The bytes of a result a job writes for `domain` (an adapter, a dense
// model) at `path`; NotFound naming the path and the `what` when the job did
// not write it.
[[nodiscard]] StatusOr<std::string> ReadDomainResult(const std::string& path,
                                                     const std::string& what,
                                                     const std::string& domain);

// Writes `blob` to `path` (in `dir`, created if missing) atomically once
// `values` are all finite; FailedPrecondition naming `what` and the path, and
// nothing written, when one is NaN or infinite (a diverged run:
// model/finite_check.h).
[[nodiscard]] Status WriteDomainResult(const std::string& dir, const std::string& path,
                                       const std::vector<float>& values, const std::string& what,
                                       const std::string& blob);

// FailedPrecondition naming the domain, and nothing written, when any
// parameter is NaN or infinite (a diverged run: model/finite_check.h).
[[nodiscard]] Status SaveAdapter(const std::string& dir, const std::string& domain,
                                 const model::IakModule& adapter);

[[nodiscard]] StatusOr<model::IakModule> LoadAdapter(const std::string& dir,
                                                     const std::string& domain);

}  // namespace iak::worker

#endif  // IAK_WORKER_ADAPTER_STORE_H_
