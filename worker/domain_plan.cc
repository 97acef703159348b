#include "worker/domain_plan.h"

#include <algorithm>
#include <cmath>

namespace iak::worker {
namespace {

// Median of positive counts (mean of the two middle ones when even).
double Median(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? static_cast<double>(v[n / 2]) : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void Size(const DomainPlanOptions& o, int64_t n, double median, int* batch, double* lr_scale) {
  if (!o.dynamic || median <= 0) {
    *batch = o.base_batch;
    *lr_scale = 1.0;
    return;
  }
  const double raw = std::round(o.base_batch * std::sqrt(static_cast<double>(n) / median));
  *batch = static_cast<int>(std::clamp<double>(raw, o.min_batch, o.base_batch));
  *lr_scale = std::sqrt(static_cast<double>(*batch) / o.base_batch);
}

}  // namespace

const char* DomainModeName(DomainMode mode) {
  switch (mode) {
    case DomainMode::kOwnAdapter: return "own";
    case DomainMode::kSharedAdapter: return "shared";
    case DomainMode::kBaseModel: return "base";
  }
  return "?";
}

Status ValidateDomainPlanOptions(const DomainPlanOptions& o) {
  if (o.base_batch < 1) return InvalidArgumentError("domain plan: base batch must be >= 1");
  if (o.min_batch < 1 || o.min_batch > o.base_batch) {
    return InvalidArgumentError("domain plan: min batch must be in 1..base batch (" +
                                std::to_string(o.base_batch) + "), not " +
                                std::to_string(o.min_batch));
  }
  if (o.min_train_samples < 0 || o.min_validation_positives < 0) {
    return InvalidArgumentError("domain plan: cold-domain thresholds must be >= 0");
  }
  return Status::Ok();
}

StatusOr<DomainPlan> PlanDomains(const std::vector<DomainCounts>& domains,
                                 const DomainPlanOptions& o) {
  IAK_RETURN_IF_ERROR(ValidateDomainPlanOptions(o));
  if (domains.empty()) return InvalidArgumentError("domain plan: no domains");
  DomainPlan plan;
  std::vector<int64_t> warm_counts;
  int64_t cold_train = 0, cold_positives = 0;
  std::vector<bool> cold(domains.size());
  for (size_t i = 0; i < domains.size(); ++i) {
    const DomainCounts& d = domains[i];
    if (d.train_samples < 0 || d.validation_positives < 0) {
      return InvalidArgumentError("domain plan: negative count for domain " + d.name);
    }
    cold[i] = d.train_samples < o.min_train_samples ||
              d.validation_positives < o.min_validation_positives;
    if (cold[i]) {
      cold_train += d.train_samples;
      cold_positives += d.validation_positives;
    } else {
      warm_counts.push_back(d.train_samples);
    }
  }
  double median = static_cast<double>(cold_train);  // n_ref
  if (!warm_counts.empty()) {
    median = o.reference == BatchReference::kLargest
                 ? static_cast<double>(*std::max_element(warm_counts.begin(), warm_counts.end()))
                 : Median(warm_counts);
  }
  const bool shared_ok =
      cold_train >= o.min_train_samples && cold_positives >= o.min_validation_positives;
  if (shared_ok && cold_train > 0) {
    Size(o, cold_train, median, &plan.shared_batch_size, &plan.shared_lr_scale);
    plan.shared_train_samples = cold_train;
  }
  for (size_t i = 0; i < domains.size(); ++i) {
    const DomainCounts& d = domains[i];
    DomainPlanEntry e;
    e.name = d.name;
    if (!cold[i]) {
      e.mode = DomainMode::kOwnAdapter;
      Size(o, d.train_samples, median, &e.batch_size, &e.lr_scale);
      e.reason = std::to_string(d.train_samples) + " training samples: own adapter";
      plan.domains.push_back(e);
      continue;
    }
    const std::string why =
        d.train_samples < o.min_train_samples
            ? std::to_string(d.train_samples) + " training samples < " +
                  std::to_string(o.min_train_samples)
            : std::to_string(d.validation_positives) + " validation positives < " +
                  std::to_string(o.min_validation_positives);
    if (shared_ok && cold_train > 0) {
      e.mode = DomainMode::kSharedAdapter;
      e.batch_size = plan.shared_batch_size;
      e.lr_scale = plan.shared_lr_scale;
      e.reason = why + ": shared adapter of the cold domains (" + std::to_string(cold_train) +
                 " training samples together)";
    } else {
      e.mode = DomainMode::kBaseModel;
      e.batch_size = 0;
      e.lr_scale = 1;
      e.reason = why + ": base model (the cold domains together have " +
                 std::to_string(cold_train) + " training samples and " +
                 std::to_string(cold_positives) + " validation positives)";
    }
    plan.domains.push_back(e);
  }
  return plan;
}

}  // namespace iak::worker
