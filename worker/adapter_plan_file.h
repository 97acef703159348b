// The adapter plan file of a finished adapter job,
// <output_dir>/adapters/domain_plan.tsv, written by rank 0 next to the
// adapter files (docs/job_spec.md, "Domain plan"). One row per fine-tuned
// domain says which adapter file serves it:
//
//   domain  mode  adapter  batch  lr_scale  steps  samples  reason
//
// mode "own": <adapter>.iak is the domain's own adapter (adapter = domain);
// mode "shared": <adapter>.iak is the shared adapter of the cold domains,
//   named "shared:<d1>+<d2>+..."; mode "base": no adapter (adapter "-"),
//   the domain is scored by the frozen base model.
// batch and lr_scale are the plan's; steps and samples what rank 0 trained
// for that adapter (samples of its own shard). Lines starting with '#' are
// comments. A job without the file (older runs) has one <domain>.iak per
// domain.
//
// Thread-safety: free functions, no shared state.
#ifndef IAK_WORKER_ADAPTER_PLAN_FILE_H_
#define IAK_WORKER_ADAPTER_PLAN_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::worker {

struct AdapterPlanRow {
  std::string domain;
  std::string mode = "own";  // "own", "shared" or "base"
  std::string adapter;       // adapter file stem; empty for "base"
  int batch_size = 0;
  double lr_scale = 1;
  int64_t steps = 0;
  int64_t samples = 0;
  std::string reason;

  // What a report prints next to the domain: "" for an own adapter,
  // "shared adapter shared:a+b" or "base model (cold: 37 training samples < 200)".
  std::string Note() const;
};

std::string AdapterPlanPath(const std::string& dir);

// Written atomically. InvalidArgument when a field holds a tab or newline.
[[nodiscard]] Status SaveAdapterPlan(const std::string& dir,
                                     const std::vector<AdapterPlanRow>& rows);

// NotFound when the file is absent; InvalidArgument naming the file and line
// when a row is malformed.
[[nodiscard]] StatusOr<std::vector<AdapterPlanRow>> LoadAdapterPlan(const std::string& dir);

// How each of `domains` is served by the job whose adapters are in `dir`:
// from the plan file when there is one (a domain it does not list is "base"),
// else every domain its own <domain>.iak ("own"). Errors other than a
// missing plan file are returned.
[[nodiscard]] StatusOr<std::vector<AdapterPlanRow>> ResolveDomainAdapters(
    const std::string& dir, const std::vector<std::string>& domains);

}  // namespace iak::worker

#endif  // IAK_WORKER_ADAPTER_PLAN_FILE_H_
