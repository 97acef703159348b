// iak_gpu_bench: the NCCL all-reduce benchmark of docs/benchmarks.md (G1),
// run by bench/gpu_check.sh: all-reduce over all local GPUs for the
// adapter's gradient size (and larger sizes for context): time per call,
// algorithm and bus bandwidth (nccl-tests' busbw = algbw * 2(n-1)/n, which is
// 0 on a single GPU), and the worker's host-memory path for the gradient.
// Figures are medians over --repeats; the last line is one JSON object.
//
// The W2 step on a GPU is `iak bench step --step_gpu`: the Trainer with its
// CUDA engine, the code GPU workers run.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "bench/bench_stats.h"
#include "bench/w2_model.h"
#include "collective/nccl_communicator.h"
#include "cuda/cuda_status.h"

DEFINE_int32(repeats, 5, "timed repetitions; medians are reported");

namespace iak::cuda {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

using bench::Median;

std::string RunAllReduce() {
  auto devices = DeviceCount();
  CHECK(devices.ok()) << devices.status();
  const int n = *devices;
  auto group = collective::NcclCommunicator::CreateLocalGroup(n);
  CHECK(group.ok()) << group.status();
  const size_t grad_floats = model::IakModule(bench::W2IakConfig()).num_params();
  const std::vector<size_t> sizes = {grad_floats, size_t{1} << 18, size_t{1} << 24};
  std::vector<float*> buffers(n, nullptr);
  for (int r = 0; r < n; ++r) {
    CHECK(cudaSetDevice(r) == cudaSuccess);
    CHECK(cudaMalloc(&buffers[r], sizeof(float) * sizes.back()) == cudaSuccess);
    CHECK(cudaMemset(buffers[r], 0, sizeof(float) * sizes.back()) == cudaSuccess);
  }
  std::printf("NCCL all-reduce (sum, float32) over %d GPU(s), median of %d repeats:\n", n,
              FLAGS_repeats);
  std::printf("  %12s %12s %12s %12s\n", "bytes", "time_us", "algbw_GB/s", "busbw_GB/s");
  std::string json = "\"allreduce\":{\"ranks\":" + std::to_string(n) + ",\"sizes\":[";
  auto time_loop = [&](size_t floats, int iters, bool host) {
    std::vector<double> per_rank(n, 0.0);
    std::vector<std::thread> threads;
    std::vector<std::vector<float>> host_data(n);
    for (int r = 0; r < n; ++r) {
      if (host) host_data[r].assign(floats, 1.0f);
      threads.emplace_back([&, r] {
        const Deadline deadline = Deadline::After(std::chrono::seconds(60));
        const auto t0 = Clock::now();
        for (int i = 0; i < iters; ++i) {
          const Status s = host ? (*group)[r]->AllReduceSum(host_data[r].data(), floats, deadline)
                                : (*group)[r]->AllReduceSumOnDevice(buffers[r], floats, deadline);
          CHECK(s.ok()) << s;
        }
        per_rank[r] = Seconds(t0, Clock::now()) / iters;
      });
    }
    for (auto& t : threads) t.join();
    return *std::max_element(per_rank.begin(), per_rank.end());
  };
  for (size_t i = 0; i < sizes.size(); ++i) {
    const size_t floats = sizes[i];
    const int iters = floats > (size_t{1} << 20) ? 20 : 200;
    time_loop(floats, 5, false);  // warm-up
    std::vector<double> times;
    for (int rep = 0; rep < FLAGS_repeats; ++rep) times.push_back(time_loop(floats, iters, false));
    const double t = Median(times);
    const double bytes = static_cast<double>(floats) * sizeof(float);
    const double algbw = bytes / t / 1e9;
    const double busbw = algbw * 2.0 * (n - 1) / n;
    std::printf("  %12.0f %12.1f %12.2f %12.2f%s\n", bytes, t * 1e6, algbw, busbw,
                i == 0 ? "   <- adapter gradient" : "");
    json += std::string(i ? "," : "") + "{\"bytes\":" + std::to_string(static_cast<long>(bytes)) +
            ",\"us\":" + std::to_string(t * 1e6) + ",\"busbw_gbs\":" + std::to_string(busbw) + "}";
  }
  // The worker's host-memory path for the gradient (copies in and out).
  std::vector<double> host_times;
  for (int rep = 0; rep < FLAGS_repeats; ++rep) host_times.push_back(time_loop(grad_floats, 200, true));
  const double host_us = Median(host_times) * 1e6;
  std::printf("  adapter gradient from host memory (pinned staging): %.1f us per all-reduce\n",
              host_us);
  json += "],\"grad_host_path_us\":" + std::to_string(host_us) + "}";
  for (int r = 0; r < n; ++r) {
    cudaSetDevice(r);
    cudaFree(buffers[r]);
  }
  return json;
}

}  // namespace
}  // namespace iak::cuda

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  auto devices = iak::cuda::DeviceCount();
  if (!devices.ok()) {
    std::fprintf(stderr, "iak_gpu_bench: %s\n", devices.status().ToString().c_str());
    return 2;
  }
  auto name = iak::cuda::DeviceName(0);
  std::printf("device 0: %s; %d device(s)\n", name.ok() ? name->c_str() : "?", *devices);
  std::printf("{\"bench\":\"gpu\",%s}\n", iak::cuda::RunAllReduce().c_str());
  return 0;
}
