// iak_gpu_bench: the GPU benchmarks of docs/benchmarks.md (G1), run by
// bench/gpu_check.sh.
//
//   --mode=w2         W2 (BENCHMARKS.md) on one GPU: the IAK fine-tuning step
//                     with x already on the device, and the whole step
//                     (host dedup + pinned staging + device pooling + step +
//                     Adam on the host), with the CPU step of the same model in
//                     the same run for the ratio.
//   --mode=allreduce  NCCL all-reduce over all local GPUs for the adapter's
//                     gradient size (and larger sizes for context): time per
//                     call, algorithm and bus bandwidth (nccl-tests' busbw =
//                     algbw * 2(n-1)/n, which is 0 on a single GPU).
//   --mode=all        both.
// Figures are medians over --repeats; the last line is one JSON object.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "bench/w2_model.h"
#include "collective/nccl_communicator.h"
#include "cuda/cuda_fine_tune_step.h"
#include "cuda/cuda_status.h"
#include "model/adam.h"
#include "model/fine_tune_step.h"

DEFINE_string(mode, "all", "w2 | allreduce | all");
DEFINE_int32(repeats, 5, "timed repetitions; medians are reported");
DEFINE_int32(steps, 50, "GPU steps per repetition");
DEFINE_int32(cpu_steps, 5, "CPU steps per repetition (the side-by-side reference)");
DEFINE_int32(batch, 1024, "W2 batch size");
DEFINE_int32(rows_per_field, 100000, "W2 distinct keys per field");

namespace iak::cuda {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

constexpr int kFields = bench::kW2Fields;
constexpr int kDim = bench::kW2Dim;

// A local table: key = field * rows_per_field + value indexes a flat array.
class FlatTable : public model::RowLookup {
 public:
  FlatTable(size_t rows, uint64_t seed) : data_(rows * kDim) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.1f);
    for (float& v : data_) v = normal(rng);
  }
  const float* Find(uint64_t key) const override {
    const size_t at = static_cast<size_t>(key) * kDim;
    return at < data_.size() ? data_.data() + at : nullptr;
  }

 private:
  std::vector<float> data_;
};

data::Dataset W2Data(int samples, int rows_per_field, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> value(0, rows_per_field - 1);
  std::bernoulli_distribution click(0.3), conversion(0.2);
  data::Dataset d;
  for (int f = 0; f < kFields; ++f) d.fields.push_back({"f" + std::to_string(f), false, data::Pooling::kSum});
  for (int s = 0; s < samples; ++s) {
    for (int f = 0; f < kFields; ++f) {
      d.keys.push_back(static_cast<uint64_t>(f) * rows_per_field + value(rng));
      d.offsets.push_back(d.keys.size());
    }
    d.click.push_back(click(rng) ? 1.0f : 0.0f);
    d.conversion.push_back(conversion(rng) ? 1.0f : 0.0f);
  }
  return d;
}

std::string RunW2() {
  const int batch = FLAGS_batch;
  const int num_batches = 16;
  model::BaseModel base(bench::W2BaseConfig());
  base.Init(1);
  model::IakModule iak(bench::W2IakConfig());
  iak.Init(2);
  FlatTable table(static_cast<size_t>(kFields) * FLAGS_rows_per_field, 3);
  const data::Dataset d = W2Data(batch * num_batches, FLAGS_rows_per_field, 4);
  std::vector<std::vector<uint32_t>> ids(num_batches);
  std::vector<std::vector<float>> click(num_batches), conversion(num_batches);
  for (int b = 0; b < num_batches; ++b) {
    for (int r = 0; r < batch; ++r) {
      const uint32_t s = static_cast<uint32_t>(b * batch + r);
      ids[b].push_back(s);
      click[b].push_back(d.click[s]);
      conversion[b].push_back(d.conversion[s]);
    }
  }
  CudaStepOptions options;
  options.max_batch = batch;
  auto created = CudaFineTuneStep::Create(base, bench::W2IakConfig(), options);
  CHECK(created.ok()) << created.status();
  CudaFineTuneStep& step = **created;
  model::Adam adam(iak.num_params(), model::AdamOptions());
  std::mt19937_64 rng(5);
  const auto phase = model::IakPhase::kCompression;

  // Agreement with the CPU on the first batch (a sanity line, not a test).
  std::vector<float> x(static_cast<size_t>(batch) * base.config().input_dim());
  model::PoolBatch(d, ids[0].data(), batch, kDim, table, x.data());
  model::IakModule cpu_iak = iak;
  model::FineTuneStep cpu_step;
  std::mt19937_64 cpu_rng(6), gpu_rng(6);
  const auto cpu_stats = cpu_step.Run(base, &cpu_iak, phase, 0.1f, x.data(), batch,
                                      click[0].data(), conversion[0].data(), &cpu_rng);
  CHECK(step.Pool(d, ids[0].data(), batch, table).ok());
  auto gpu_stats = step.RunPooled(&iak, phase, 0.1f, batch, click[0].data(),
                                  conversion[0].data(), &gpu_rng);
  CHECK(gpu_stats.ok()) << gpu_stats.status();
  double max_grad_diff = 0.0, max_grad = 0.0;
  for (size_t i = 0; i < iak.num_params(); ++i) {
    max_grad_diff = std::max(max_grad_diff, static_cast<double>(std::abs(iak.grads()[i] - cpu_iak.grads()[i])));
    max_grad = std::max(max_grad, static_cast<double>(std::abs(cpu_iak.grads()[i])));
  }
  std::printf("W2 check: loss cpu %.6f gpu %.6f; max |grad diff| %.3g (max |grad| %.3g)\n",
              cpu_stats.loss, gpu_stats->loss, max_grad_diff, max_grad);

  std::vector<double> device_rates, full_rates, cpu_rates;
  for (int rep = 0; rep < FLAGS_repeats; ++rep) {
    // x stays on the device: the dense step, with parameter upload and
    // gradient download.
    auto t0 = Clock::now();
    for (int s = 0; s < FLAGS_steps; ++s) {
      auto st = step.RunPooled(&iak, phase, 0.1f, batch, click[0].data(),
                               conversion[0].data(), &rng);
      CHECK(st.ok()) << st.status();
    }
    auto t1 = Clock::now();
    device_rates.push_back(FLAGS_steps * static_cast<double>(batch) / Seconds(t0, t1));
    // Everything a worker with a local table does per batch.
    t0 = Clock::now();
    for (int s = 0; s < FLAGS_steps; ++s) {
      const int b = s % num_batches;
      CHECK(step.Pool(d, ids[b].data(), batch, table).ok());
      auto st = step.RunPooled(&iak, phase, 0.1f, batch, click[b].data(),
                               conversion[b].data(), &rng);
      CHECK(st.ok()) << st.status();
      adam.Step(iak.mutable_params(), iak.grads().data());
    }
    t1 = Clock::now();
    full_rates.push_back(FLAGS_steps * static_cast<double>(batch) / Seconds(t0, t1));
    // The CPU step on the same host, OpenBLAS threads as configured there.
    t0 = Clock::now();
    for (int s = 0; s < FLAGS_cpu_steps; ++s) {
      cpu_step.Run(base, &cpu_iak, phase, 0.1f, x.data(), batch, click[0].data(),
                   conversion[0].data(), &cpu_rng);
    }
    t1 = Clock::now();
    cpu_rates.push_back(FLAGS_cpu_steps * static_cast<double>(batch) / Seconds(t0, t1));
  }
  const double device = Median(device_rates), full = Median(full_rates), cpu = Median(cpu_rates);
  std::printf("W2 on GPU, batch %d, %d steps x %d repeats (median samples/s):\n", batch,
              FLAGS_steps, FLAGS_repeats);
  std::printf("  step, x on device                 %12.0f\n", device);
  std::printf("  pool + step + Adam (local table)  %12.0f\n", full);
  std::printf("  CPU step, same host (reference)   %12.0f   GPU/CPU %.1fx\n", cpu,
              cpu > 0 ? full / cpu : 0.0);
  char json[512];
  std::snprintf(json, sizeof(json),
                "\"w2\":{\"batch\":%d,\"step_device_x\":%.0f,\"pool_step_adam\":%.0f,"
                "\"cpu_step\":%.0f,\"loss_diff\":%.3g,\"max_grad_diff\":%.3g}",
                batch, device, full, cpu, std::abs(cpu_stats.loss - gpu_stats->loss),
                max_grad_diff);
  return json;
}

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
  std::string json = "{\"bench\":\"gpu\"";
  if (FLAGS_mode == "w2" || FLAGS_mode == "all") json += "," + iak::cuda::RunW2();
  if (FLAGS_mode == "allreduce" || FLAGS_mode == "all") json += "," + iak::cuda::RunAllReduce();
  if (FLAGS_mode != "w2" && FLAGS_mode != "allreduce" && FLAGS_mode != "all") {
    std::fprintf(stderr, "iak_gpu_bench: --mode must be w2, allreduce or all\n");
    return 2;
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}
