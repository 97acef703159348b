#include "bench/benchmark_registry.h"

namespace iak::bench {

int RunStepBench(int argc, char** argv);  // step_bench.cc
int RunPullBench(int argc, char** argv);  // pull_bench.cc
int RunReadBench(int argc, char** argv);  // read_bench.cc
int RunPredictBench(int argc, char** argv);  // predict_bench.cc
int RunPushBench(int argc, char** argv);  // push_bench.cc
int RunScaleBench(int argc, char** argv);  // scale_bench.cc

// Add one line per benchmark; its `run` lives in its own file of bench/.
const std::vector<Benchmark>& AllBenchmarks() {
  static const std::vector<Benchmark> benchmarks = {
      {"step", "W2: the worker's IAK fine-tuning step, samples/s (--source=local|ps)", &RunStepBench},
      {"pull", "W1: embedding pull throughput from a PS, keys/s (--shards, --transport, --keys, --dtype)", &RunPullBench},
      {"read", "data pipeline: text vs binary-shard samples/s on the W2 shape (--read_bench_*)", &RunReadBench},
      {"predict", "domain-activated inference: mixed-domain batches vs each domain separately, samples/s (--predict_*)", &RunPredictBench},
      {"scale", "the whole path at size: synth, convert, snapshot, a streamed 2 PS + 2 worker job; peak RSS per process (--scale_*)", &RunScaleBench},
      {"push", "trainable PS: sparse gradient pushes (Adagrad/Adam) and pulls from a trainable server, keys/s (--push_*)", &RunPushBench},
  };
  return benchmarks;
}

}  // namespace iak::bench
