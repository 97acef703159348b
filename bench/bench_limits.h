// Upper bounds on the benchmarks' size flags, checked before any work: past
// them a run does not measure anything useful, and it aborted (a thread the
// system would not start, a buffer it could not allocate) or ran for hours
// (a shard file or server per count) instead of saying what was wrong.
// Counts with a home of their own are bounded there: servers by
// job::kMaxNodes, data shard files by data::kMaxShardSetShards, domains by
// data::kMaxSynthDomains.
#ifndef IAK_BENCH_BENCH_LIMITS_H_
#define IAK_BENCH_BENCH_LIMITS_H_

#include <cstdint>

namespace iak::bench {

inline constexpr int kMaxBenchThreads = 256;
inline constexpr int64_t kMaxBenchSamples = int64_t{1} << 24;  // per timed pass, held in memory
// Seconds of one timed repeat: an hour is far past a stable median, and an
// infinite --*_seconds never ended.
inline constexpr double kMaxBenchSeconds = 3600.0;
inline constexpr int kMaxBenchRepeats = 1000;

}  // namespace iak::bench

#endif  // IAK_BENCH_BENCH_LIMITS_H_
