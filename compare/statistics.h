// The statistics of the results tables (docs/results.md): a mean with its
// 95 % Student-t interval over seeds, and a paired bootstrap over test
// samples of the AUC gain of a method against the frozen base.
//
// Paired: every bootstrap resample draws test samples with replacement once
// and scores both models on that same draw, so the noise the two AUCs share
// (which samples happen to be in the test set) cancels in the gain. The
// resample is a count per test sample; AUC on counts equals AUC on the
// expanded sample list, computed in O(n) per resample over one sort.
//
// Thread-safety: pure functions of their arguments (the RNG is seeded from
// the argument).
#ifndef IAK_COMPARE_STATISTICS_H_
#define IAK_COMPARE_STATISTICS_H_

#include <cstdint>
#include <random>
#include <vector>

#include "common/status.h"

namespace iak::compare {

struct Interval {
  double mean = 0;
  double low = 0;   // 95 % interval
  double high = 0;
  int n = 0;        // values it is computed from
};

// The 0.975 quantile of Student's t with `df` >= 1 degrees of freedom
// (table for df <= 30, the normal 1.96 above).
double StudentT975(int df);

// Mean of `values` and mean +- t(0.975, n-1) * sd / sqrt(n). One value: the
// interval is that value (no spread is known). InvalidArgument when empty.
[[nodiscard]] StatusOr<Interval> MeanWithTInterval(const std::vector<double>& values);

// AUC of `scores` against `labels` (> 0.5 positive) where sample i counts
// counts[i] times; ties count one half, as model::RocAuc. Built once per
// score vector (one sort); each Auc call is O(n).
class WeightedAuc {
 public:
  WeightedAuc(const std::vector<float>& scores, const std::vector<float>& labels);
  // FailedPrecondition when the counted samples hold a single class.
  [[nodiscard]] StatusOr<double> Auc(const std::vector<uint32_t>& counts) const;

 private:
  std::vector<uint32_t> order_;  // sample indices by ascending score
  std::vector<float> scores_;
  std::vector<bool> positive_;
};

// One bootstrap draw: n samples with replacement from n, as counts per
// sample (uniform index = rng() % n; n is far below 2^64, the bias is nil).
std::vector<uint32_t> ResampleCounts(size_t n, std::mt19937_64* rng);

struct PairedGain {
  double gain = 0;  // on the test set as it is: mean over seeds of AUC - base AUC
  double low = 0;   // 2.5 % and 97.5 % percentiles of the resampled gains
  double high = 0;
  int resamples = 0;  // draws with both classes present (the others are skipped)
  // Significantly below / above the base. The margin keeps the rounding
  // noise of an exact zero gain (a domain that kept the base) unmarked.
  bool below() const { return high < -1e-9; }
  bool above() const { return low > 1e-9; }
};

// The gains of `resamples` paired draws: for each draw, the mean over the
// method's seeds of AUC(method_scores[s]) minus AUC(base_scores), all on the
// same counts. Draws with one class only are skipped. InvalidArgument when
// the lengths differ or no seed is given; FailedPrecondition when the test
// set itself has one class.
[[nodiscard]] StatusOr<std::vector<double>> PairedBootstrapGains(
    const std::vector<std::vector<float>>& method_scores, const std::vector<float>& base_scores,
    const std::vector<float>& labels, int resamples, uint64_t seed);

// The gain on the test set and the percentile interval of the gains above.
[[nodiscard]] StatusOr<PairedGain> PairedBootstrapAucGain(
    const std::vector<std::vector<float>>& method_scores, const std::vector<float>& base_scores,
    const std::vector<float>& labels, int resamples, uint64_t seed);

// The q-quantile (0..1) of `values` by linear interpolation between order
// statistics (values need not be sorted). InvalidArgument when empty.
[[nodiscard]] StatusOr<double> Quantile(std::vector<double> values, double q);

}  // namespace iak::compare

#endif  // IAK_COMPARE_STATISTICS_H_
