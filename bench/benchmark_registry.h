// The benchmarks `iak bench <name>` runs. Each is a program that prints its
// figures (medians over repeated runs) and ends with one JSON line; the docs
// quote them with the command that produced them (docs/benchmarks.md).
#ifndef IAK_BENCH_BENCHMARK_REGISTRY_H_
#define IAK_BENCH_BENCHMARK_REGISTRY_H_

#include <vector>

namespace iak::bench {

struct Benchmark {
  const char* name;     // `iak bench <name>`
  const char* summary;  // one line for `iak bench --help`
  // argv[0] is the benchmark's name; flags are already parsed (gflags).
  int (*run)(int argc, char** argv);
};

// Every benchmark compiled into this binary (bench/benchmark_registry.cc).
const std::vector<Benchmark>& AllBenchmarks();

}  // namespace iak::bench

#endif  // IAK_BENCH_BENCHMARK_REGISTRY_H_
