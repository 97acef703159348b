// SeedReport: the method comparison repeated over seeds, summarised with
// confidence (docs/results.md): per method and domain the mean test AUC over
// seeds with its 95 % t-interval, the same for the mean over domains, and per
// domain a paired bootstrap over test samples of the method's gain against
// the frozen base (compare/statistics.h). A domain where the gain's interval
// lies below zero is marked: the method is significantly worse than not
// fine-tuning there. Chosen pairs of methods are also compared seed by seed
// (compare/paired_seeds.h).
#ifndef IAK_COMPARE_SEED_REPORT_H_
#define IAK_COMPARE_SEED_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "compare/method_report.h"
#include "compare/paired_seeds.h"
#include "compare/statistics.h"

namespace iak::compare {

struct ConfidenceOptions {
  int resamples = 1000;      // bootstrap draws per domain
  uint64_t seed = 20250124;  // of the draws; domain d uses seed + d (same draws for every method)
  std::string base_method = "frozen";
  std::vector<MethodPair> paired;  // also compared seed by seed (compare/paired_seeds.h)
};

struct DomainConfidence {
  std::string method;
  std::string domain;
  int64_t test_samples = 0;
  Interval test_auc;    // over seeds (n = 0: undefined on every seed)
  Interval test_ctcvr;  // n = 0 without conversions
  bool has_gain = false;  // the base ran and the test split has both classes
  PairedGain gain;        // against the base, seeds averaged per draw
};

struct MethodConfidence {
  std::string method;
  Interval mean_test_auc;    // of the per-seed means over domains
  Interval mean_test_ctcvr;  // n = 0 without conversions
  int domains_above = 0;     // gain interval above zero
  int domains_below = 0;     // gain interval below zero
  int64_t trainable_params = 0;  // summed over domains (first seed)
  int64_t checkpoint_bytes = 0;
};

struct SeedReport {
  std::vector<uint64_t> seeds;
  int resamples = 0;
  bool has_ctcvr = false;
  std::vector<std::string> domains;
  std::vector<MethodConfidence> methods;
  std::vector<DomainConfidence> cells;  // method-major, domain order
  std::vector<PairedSeedChange> paired;  // per ConfidenceOptions::paired, domain order
  const DomainConfidence* Cell(const std::string& method, const std::string& domain) const;
  std::string ToMarkdown() const;
  std::string ToJson() const;
};

// `runs[i]` is the comparison with seeds[i]; every run must hold the same
// (method, domain) results in the same order (InvalidArgument naming the
// first difference otherwise).
[[nodiscard]] StatusOr<SeedReport> SummarizeSeeds(const std::vector<MethodReport>& runs,
                                                  const std::vector<uint64_t>& seeds,
                                                  const ConfidenceOptions& options);

}  // namespace iak::compare

#endif  // IAK_COMPARE_SEED_REPORT_H_
