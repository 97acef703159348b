#include "bench/benchmark_registry.h"

namespace iak::bench {

// Add one line per benchmark; its `run` lives in its own file of bench/.
const std::vector<Benchmark>& AllBenchmarks() {
  static const std::vector<Benchmark> benchmarks = {
  };
  return benchmarks;
}

}  // namespace iak::bench
