// The statistics every benchmark reports: medians and percentiles of repeated
// timings (docs/BENCHMARKS: report medians over repeats on noisy machines).
#ifndef IAK_BENCH_BENCH_STATS_H_
#define IAK_BENCH_BENCH_STATS_H_

#include <algorithm>
#include <vector>

namespace iak::bench {

// The q-quantile (0 <= q <= 1) of `v` by rank; 0 for no values.
inline double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

// The median of `v` (the upper one for an even count); 0 for no values.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace iak::bench

#endif  // IAK_BENCH_BENCH_STATS_H_
