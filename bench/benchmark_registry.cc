#include "bench/benchmark_registry.h"

namespace iak::bench {

int RunPullBench(int argc, char** argv);  // pull_bench.cc

// Add one line per benchmark; its `run` lives in its own file of bench/.
const std::vector<Benchmark>& AllBenchmarks() {
  static const std::vector<Benchmark> benchmarks = {
      {"pull", "W1: embedding pull throughput from a PS, keys/s (--shards, --transport, --keys, --dtype)", &RunPullBench},
  };
  return benchmarks;
}

}  // namespace iak::bench
