#include "model/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <glog/logging.h>

namespace iak::model {

StatusOr<double> RocAuc(const float* scores, const float* labels, size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [scores](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positives = 0.0;
  double positive_rank_sum = 0.0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    // Ranks i+1 .. j share their average.
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t t = i; t < j; ++t) {
      if (labels[order[t]] > 0.5f) {
        positives += 1.0;
        positive_rank_sum += avg_rank;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0.0 || negatives == 0.0) {
    return FailedPreconditionError(
        "AUC is undefined: the " + std::to_string(n) +
        " labels hold a single class (" + std::to_string(static_cast<size_t>(positives)) +
        " positives)");
  }
  const double u = positive_rank_sum - positives * (positives + 1.0) / 2.0;
  return u / (positives * negatives);
}

StatusOr<double> RocAuc(const std::vector<float>& scores,
                        const std::vector<float>& labels) {
  CHECK_EQ(scores.size(), labels.size());
  return RocAuc(scores.data(), labels.data(), scores.size());
}

double LogLoss(const float* probs, const float* labels, size_t n) {
  if (n == 0) return 0.0;
  constexpr double kEps = 1e-7;
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double p = std::clamp(static_cast<double>(probs[i]), kEps, 1.0 - kEps);
    const double y = labels[i];
    total -= y * std::log(p) + (1.0 - y) * std::log(1.0 - p);
  }
  return total / static_cast<double>(n);
}

StatusOr<double> CtcvrAuc(const std::vector<float>& p_ctcvr, const std::vector<float>& click,
                          const std::vector<float>& conversion) {
  if (p_ctcvr.size() != click.size() || click.size() != conversion.size()) {
    return InvalidArgumentError("CTCVR-AUC: scores, clicks and conversions differ in length");
  }
  std::vector<float> label(click.size());
  for (size_t i = 0; i < click.size(); ++i) {
    label[i] = click[i] > 0.5f && conversion[i] > 0.5f ? 1.0f : 0.0f;
  }
  return RocAuc(p_ctcvr, label);
}

}  // namespace iak::model
