#include "compare/statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace iak::compare {

double StudentT975(int df) {
  static constexpr double kTable[30] = {
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return std::nan("");
  return df <= 30 ? kTable[df - 1] : 1.96;
}

StatusOr<Interval> MeanWithTInterval(const std::vector<double>& values) {
  if (values.empty()) return InvalidArgumentError("MeanWithTInterval: no values");
  Interval out;
  out.n = static_cast<int>(values.size());
  out.mean = std::accumulate(values.begin(), values.end(), 0.0) / out.n;
  if (out.n == 1) {
    out.low = out.high = out.mean;
    return out;
  }
  double squares = 0;
  for (double v : values) squares += (v - out.mean) * (v - out.mean);
  const double sd = std::sqrt(squares / (out.n - 1));
  const double half = StudentT975(out.n - 1) * sd / std::sqrt(static_cast<double>(out.n));
  out.low = out.mean - half;
  out.high = out.mean + half;
  return out;
}

WeightedAuc::WeightedAuc(const std::vector<float>& scores, const std::vector<float>& labels)
    : order_(scores.size()), scores_(scores), positive_(labels.size()) {
  for (size_t i = 0; i < labels.size(); ++i) positive_[i] = labels[i] > 0.5f;
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](uint32_t a, uint32_t b) { return scores_[a] < scores_[b]; });
}

StatusOr<double> WeightedAuc::Auc(const std::vector<uint32_t>& counts) const {
  // Ascending by score, one group of tied scores at a time: each positive
  // beats the negatives below its group and ties half of those inside it.
  double negatives_below = 0, pairs_won = 0, positives = 0;
  for (size_t begin = 0; begin < order_.size();) {
    size_t end = begin;
    double group_pos = 0, group_neg = 0;
    while (end < order_.size() && scores_[order_[end]] == scores_[order_[begin]]) {
      const uint32_t i = order_[end++];
      (positive_[i] ? group_pos : group_neg) += counts[i];
    }
    pairs_won += group_pos * (negatives_below + 0.5 * group_neg);
    negatives_below += group_neg;
    positives += group_pos;
    begin = end;
  }
  if (positives == 0 || negatives_below == 0) {
    return FailedPreconditionError("AUC undefined: the counted samples hold one class only");
  }
  return pairs_won / (positives * negatives_below);
}

std::vector<uint32_t> ResampleCounts(size_t n, std::mt19937_64* rng) {
  std::vector<uint32_t> counts(n, 0);
  for (size_t k = 0; k < n; ++k) ++counts[(*rng)() % n];
  return counts;
}

StatusOr<std::vector<double>> PairedBootstrapGains(
    const std::vector<std::vector<float>>& method_scores, const std::vector<float>& base_scores,
    const std::vector<float>& labels, int resamples, uint64_t seed) {
  if (method_scores.empty()) return InvalidArgumentError("paired bootstrap: no method scores");
  if (base_scores.size() != labels.size()) {
    return InvalidArgumentError("paired bootstrap: " + std::to_string(base_scores.size()) +
                                " base scores for " + std::to_string(labels.size()) + " labels");
  }
  std::vector<WeightedAuc> methods;
  for (const std::vector<float>& s : method_scores) {
    if (s.size() != labels.size()) {
      return InvalidArgumentError("paired bootstrap: " + std::to_string(s.size()) +
                                  " method scores for " + std::to_string(labels.size()) +
                                  " labels");
    }
    methods.emplace_back(s, labels);
  }
  const WeightedAuc base(base_scores, labels);
  IAK_RETURN_IF_ERROR(base.Auc(std::vector<uint32_t>(labels.size(), 1)).status());
  std::mt19937_64 rng(seed);
  std::vector<double> gains;
  gains.reserve(static_cast<size_t>(std::max(resamples, 0)));
  for (int r = 0; r < resamples; ++r) {
    const std::vector<uint32_t> counts = ResampleCounts(labels.size(), &rng);
    StatusOr<double> base_auc = base.Auc(counts);
    if (!base_auc.ok()) continue;  // one class drawn: both AUCs undefined
    double sum = 0;
    for (const WeightedAuc& m : methods) sum += *m.Auc(counts);
    gains.push_back(sum / static_cast<double>(methods.size()) - *base_auc);
  }
  return gains;
}

StatusOr<PairedGain> PairedBootstrapAucGain(
    const std::vector<std::vector<float>>& method_scores, const std::vector<float>& base_scores,
    const std::vector<float>& labels, int resamples, uint64_t seed) {
  IAK_ASSIGN_OR_RETURN(std::vector<double> gains,
                       PairedBootstrapGains(method_scores, base_scores, labels, resamples, seed));
  if (gains.empty()) return FailedPreconditionError("paired bootstrap: no usable resample");
  PairedGain out;
  const std::vector<uint32_t> all(labels.size(), 1);
  double sum = 0;
  for (const std::vector<float>& s : method_scores) sum += *WeightedAuc(s, labels).Auc(all);
  out.gain = sum / static_cast<double>(method_scores.size()) -
             *WeightedAuc(base_scores, labels).Auc(all);
  out.resamples = static_cast<int>(gains.size());
  IAK_ASSIGN_OR_RETURN(out.low, Quantile(gains, 0.025));
  IAK_ASSIGN_OR_RETURN(out.high, Quantile(gains, 0.975));
  return out;
}

StatusOr<double> Quantile(std::vector<double> values, double q) {
  if (values.empty()) return InvalidArgumentError("Quantile: no values");
  std::sort(values.begin(), values.end());
  const double at = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(at));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (at - static_cast<double>(below)) * (values[above] - values[below]);
}

}  // namespace iak::compare
