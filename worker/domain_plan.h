// DomainPlan: per-domain batch size, learning rate and adapter choice of a
// multi-domain fine-tuning job, from each domain's sample counts (issue #5,
// "dynamic batch-aware training"; docs/results.md shows its effect).
//
// The rule, with B = base batch, n_d = training samples of domain d and
// n_ref = the median n_d over the domains that get their own adapter
// (reference kMedian) or the largest such n_d (kLargest):
//
//   batch_d = clamp(round(B * sqrt(n_d / n_ref)), B_min, B)
//   lr_d    = lr * sqrt(batch_d / B)
//
// Why: at a fixed batch a small domain gets few optimizer steps per epoch
// (n_d / B), so its adapter barely moves in the epochs a big domain needs.
// Shrinking the batch with sqrt(n_d) gives a small domain more steps
// (sqrt(n_d * n_ref) / B) without making it as many as a big domain's; the
// learning rate follows the square-root scaling rule for Adam (noise of the
// gradient estimate grows as 1/sqrt(batch), so the step shrinks with it).
// Domains at or above n_ref keep B and lr: the rule never enlarges a batch,
// so big domains train exactly as with a fixed batch.
//
// Cold domains: a domain with fewer than min_train_samples training samples,
// or fewer than min_validation_positives positives in its validation split
// (too few to choose an epoch by validation AUC), gets no adapter of its own.
// The cold domains train one shared adapter on all their samples together
// (model choice on their pooled validation split) when together they reach
// min_train_samples and min_validation_positives; otherwise they are served
// by the base model. Each entry says which and why.
//
// With dynamic = false every domain that is not cold gets B and lr (the
// fixed baseline); the cold-domain fallback applies either way unless
// min_train_samples = min_validation_positives = 0.
//
// Thread-safety: a pure function.
#ifndef IAK_WORKER_DOMAIN_PLAN_H_
#define IAK_WORKER_DOMAIN_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::worker {

enum class BatchReference { kMedian, kLargest };

struct DomainPlanOptions {
  bool dynamic = true;
  BatchReference reference = BatchReference::kMedian;
  int base_batch = 256;  // B
  int min_batch = 32;    // B_min
  int64_t min_train_samples = 200;
  int64_t min_validation_positives = 10;
};

struct DomainCounts {
  std::string name;
  int64_t train_samples = 0;
  int64_t validation_positives = 0;
};

enum class DomainMode { kOwnAdapter, kSharedAdapter, kBaseModel };
const char* DomainModeName(DomainMode mode);  // "own", "shared", "base"

struct DomainPlanEntry {
  std::string name;
  DomainMode mode = DomainMode::kOwnAdapter;
  int batch_size = 0;    // own/shared adapter; 0 for the base model
  double lr_scale = 1;   // multiplies the method's learning rate
  std::string reason;    // e.g. "37 training samples < 200: base model"
};

struct DomainPlan {
  std::vector<DomainPlanEntry> domains;  // input order
  // The shared adapter of the cold domains (when any domain is kSharedAdapter).
  int shared_batch_size = 0;
  double shared_lr_scale = 1;
  int64_t shared_train_samples = 0;
};

// InvalidArgument when base_batch < 1, min_batch < 1 or min_batch >
// base_batch, a count is negative, or the list is empty.
[[nodiscard]] Status ValidateDomainPlanOptions(const DomainPlanOptions& options);
[[nodiscard]] StatusOr<DomainPlan> PlanDomains(const std::vector<DomainCounts>& domains,
                                               const DomainPlanOptions& options);

}  // namespace iak::worker

#endif  // IAK_WORKER_DOMAIN_PLAN_H_
