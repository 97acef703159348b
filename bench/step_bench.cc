// `iak bench step`: W2 of docs/BENCHMARKS.md, the worker's fine-tuning step.
//
// Model (exactly W2): 26 single-valued fields, embedding dim 16 (frozen),
// bottom MLP 416-256-128 ReLU (frozen), IAK encoder 128-64-(2x32) and decoder
// 32-64-128 (trainable), ESMM towers 128-64-1 for CTR and CVR (frozen); loss
// BCE(ctr) + BCE(ctcvr) + beta*KL; Adam on the IAK; batch 1,024; keys drawn
// uniformly from 100,000 rows per field.
//
// --source=local: the table lives in this process (MemoryRowSource).
// --source=ps:    the table is written as a model directory in a temp dir and
//                 served by one `iak ps` child process over TCP loopback;
//                 rows are pulled through ps::PsClient.
//
// Printed: samples/s of the reference path (the walking skeleton's step:
// hash-map dedup, per-key hash lookups while pooling, FineTuneStep on one
// thread with OpenBLAS threads) and of the fast path (the worker's pipeline:
// prefetch thread with overlapped pulls, ParallelFineTuneStep over
// --step_threads), medians over --step_repeats; then epoch times with and
// without the frozen-prefix cache. The last line is one JSON object.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_stats.h"
#include "bench/w2_model.h"
#include "cluster/child_process.h"
#include "common/keys.h"
#include "data/dataset.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_writer.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/blas_threads.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/parallel_step.h"
#include "net/free_port.h"
#include "net/zmq_transport.h"
#include "ps/ps_client.h"
#include "worker/batch_pipeline.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/pulled_rows.h"
#include "worker/resolved_rows.h"
#include "worker/row_source.h"

DEFINE_string(source, "local", "step bench: where rows come from: local (in-process table) or ps");
DEFINE_int32(step_batches, 48, "step bench: batches per timed repeat");
DEFINE_int32(step_repeats, 5, "step bench: timed repeats (the median is reported)");
DEFINE_int32(step_threads, 2, "step bench: compute threads of the fast path");
DEFINE_int32(step_rows_per_field, 100000, "step bench: distinct keys per field");
DEFINE_bool(step_reference, true, "step bench: also time the reference (skeleton) path");

namespace iak::bench {
namespace {

// A free loopback port; this program cannot go on without one.
int FreePortOrDie() {
  StatusOr<int> port = net::PickFreeLoopbackPort();
  CHECK(port.ok()) << port.status();
  return *port;
}


constexpr int kFields = bench::kW2Fields;
constexpr int kDim = bench::kW2Dim;
constexpr int kBatch = 1024;
constexpr float kBeta = 0.01f;

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// `n` samples, one key per field drawn from rows_per_field values.
data::Dataset MakeData(size_t n, int rows_per_field, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> value(0, rows_per_field - 1);
  std::bernoulli_distribution click(0.2), conversion(0.3);
  data::Dataset d;
  for (int f = 0; f < kFields; ++f) d.fields.push_back({"f" + std::to_string(f), false, data::Pooling::kSum});
  d.domain_names = {"w2"};
  d.keys.reserve(n * kFields);
  d.offsets.reserve(n * kFields + 1);
  for (size_t s = 0; s < n; ++s) {
    for (int f = 0; f < kFields; ++f) {
      d.keys.push_back(FeatureKey(f, value(rng)));
      d.offsets.push_back(d.keys.size());
    }
    d.click.push_back(click(rng) ? 1.0f : 0.0f);
    d.conversion.push_back(conversion(rng) ? 1.0f : 0.0f);
    d.domain.push_back(0);
    d.timestamp.push_back(static_cast<int64_t>(s));
  }
  return d;
}

std::unordered_map<uint64_t, std::vector<float>> MakeTable(int rows_per_field, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> value(0.0f, 0.1f);
  std::unordered_map<uint64_t, std::vector<float>> table;
  table.reserve(static_cast<size_t>(kFields) * rows_per_field);
  for (int f = 0; f < kFields; ++f) {
    for (int v = 0; v < rows_per_field; ++v) {
      std::vector<float>& row = table[FeatureKey(f, v)];
      row.resize(kDim);
      for (float& x : row) x = value(rng);
    }
  }
  return table;
}

// The walking skeleton's step loop (worker.cc before this benchmark existed):
// dedup with a hash map, fetch, pool with a hash lookup per key, one
// FineTuneStep, Adam. Returns samples/s over `batches` batches.
double RunReference(const data::Dataset& data, const model::BaseModel& base,
                    worker::RowSource* source, int batches, uint64_t seed) {
  model::IakModule iak(bench::W2IakConfig());
  iak.Init(seed);
  model::Adam adam(iak.num_params(), model::AdamOptions());
  model::FineTuneStep step;
  worker::PulledRows rows(kDim);
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> ids(kBatch);
  std::vector<float> x(static_cast<size_t>(kBatch) * kFields * kDim), click(kBatch), conv(kBatch);
  const size_t n = data.size();
  const auto start = Clock::now();
  for (int b = 0; b < batches; ++b) {
    for (int i = 0; i < kBatch; ++i) ids[i] = static_cast<uint32_t>((static_cast<size_t>(b) * kBatch + i) % n);
    rows.CollectKeys(data, ids.data(), kBatch);
    Status fetched = source->Fetch(rows.keys().data(), rows.keys().size(), rows.rows());
    CHECK(fetched.ok()) << fetched;
    model::PoolBatch(data, ids.data(), kBatch, kDim, rows, x.data());
    for (int i = 0; i < kBatch; ++i) {
      click[i] = data.click[ids[i]];
      conv[i] = data.conversion[ids[i]];
    }
    step.Run(base, &iak, model::IakPhase::kCompression, kBeta, x.data(), kBatch, click.data(),
             conv.data(), &rng);
    adam.Step(iak.mutable_params(), iak.grads().data());
  }
  return static_cast<double>(batches) * kBatch / Seconds(start);
}

// The worker's path: BatchPipeline (prefetch thread, overlapped fetches,
// cache lookups) feeding ParallelFineTuneStep, then Adam. Runs `epochs`
// passes over the data in batches of kBatch; returns each epoch's seconds.
std::vector<double> RunFast(const data::Dataset& data, const model::BaseModel& base,
                            worker::RowSource* source, worker::FrozenPrefixCache* cache,
                            int epochs, int threads, uint64_t seed,
                            const worker::ResolvedRows* resolved) {
  model::IakModule iak(bench::W2IakConfig());
  iak.Init(seed);
  model::Adam adam(iak.num_params(), model::AdamOptions());
  model::ParallelFineTuneStep step(threads);
  const int per_epoch = static_cast<int>(data.size() / kBatch);
  int64_t produced = 0;
  worker::BatchPipelineOptions options;
  options.input_dim = kFields * kDim;
  options.embedding_dim = kDim;
  options.h_dim = base.config().h_dim();
  options.latent_dim = bench::W2IakConfig().latent_dim;
  options.noise_seed = seed;
  worker::BatchPipeline pipeline(
      options, &data, source, cache, [&](int* tag, std::vector<uint32_t>* ids) {
        if (produced >= static_cast<int64_t>(epochs) * per_epoch) return false;
        const size_t first = static_cast<size_t>(produced % per_epoch) * kBatch;
        ids->resize(kBatch);
        for (int i = 0; i < kBatch; ++i) (*ids)[i] = static_cast<uint32_t>(first + i);
        *tag = static_cast<int>(produced / per_epoch);
        ++produced;
        return true;
      }, resolved);
  std::vector<float> h(static_cast<size_t>(kBatch) * base.config().h_dim());
  std::vector<double> epoch_seconds;
  for (int e = 0; e < epochs; ++e) {
    const auto start = Clock::now();
    for (int b = 0; b < per_epoch; ++b) {
      StatusOr<worker::PreparedBatch*> next = pipeline.Next();
      CHECK(next.ok()) << next.status();
      worker::PreparedBatch* batch = *next;
      CHECK(batch != nullptr);
      const float* hp = batch->h.data();
      if (!batch->from_cache) {
        step.ForwardBottom(base, batch->x.data(), batch->size(), h.data());
        if (cache != nullptr) CHECK(cache->Put(batch->ids.data(), batch->size(), h.data()).ok());
        hp = h.data();
      }
      step.RunOnH(base, &iak, model::IakPhase::kCompression, kBeta, hp, batch->size(),
                  batch->click.data(), batch->conversion.data(), batch->eps.data());
      pipeline.Release(batch);
      adam.Step(iak.mutable_params(), iak.grads().data());
    }
    epoch_seconds.push_back(Seconds(start));
  }
  return epoch_seconds;
}

double LoadAverage() {
  double load[1] = {0.0};
  return getloadavg(load, 1) == 1 ? load[0] : 0.0;
}

// Where the time of one step goes: the fast path's stages run one after the
// other on one thread (1 compute thread, 1 BLAS thread), each timed.
void Profile(const data::Dataset& data, const model::BaseModel& base, worker::RowSource* source,
             const worker::ResolvedRows* resolved, int batches) {
  model::IakModule iak(bench::W2IakConfig());
  iak.Init(1);
  model::Adam adam(iak.num_params(), model::AdamOptions());
  model::ParallelFineTuneStep step(1);
  worker::PulledRows rows(kDim);
  std::mt19937_64 rng(1);
  const int k = bench::W2IakConfig().latent_dim;
  std::vector<uint32_t> ids(kBatch);
  std::vector<float> x(static_cast<size_t>(kBatch) * kFields * kDim), click(kBatch), conv(kBatch),
      eps(static_cast<size_t>(kBatch) * k), h(static_cast<size_t>(kBatch) * 128),
      h_out(h.size());
  model::IakWorkspace ws;
  const char* names[] = {"dedup keys", "fetch rows", "pool (gather)", "draw noise", "frozen bottom",
                         "IAK+towers+loss+backward", "  of which IAK forward", "Adam"};
  double t[8] = {0};
  const size_t n = data.size();
  for (int b = 0; b < batches; ++b) {
    for (int i = 0; i < kBatch; ++i) {
      ids[i] = static_cast<uint32_t>((static_cast<size_t>(b) * kBatch + i) % n);
      click[i] = data.click[ids[i]];
      conv[i] = data.conversion[ids[i]];
    }
    auto s0 = Clock::now();
    if (resolved == nullptr) rows.CollectKeys(data, ids.data(), kBatch);
    auto s1 = Clock::now();
    if (resolved == nullptr) {
      CHECK(source->Fetch(rows.keys().data(), rows.keys().size(), rows.rows()).ok());
    }
    auto s2 = Clock::now();
    if (resolved == nullptr) {
      rows.Pool(data, ids.data(), kBatch, x.data());
    } else {
      resolved->Pool(data, ids.data(), kBatch, x.data());
    }
    auto s3 = Clock::now();
    model::IakModule::DrawEps(kBatch, k, &rng, eps.data());
    auto s4 = Clock::now();
    step.ForwardBottom(base, x.data(), kBatch, h.data());
    auto s5 = Clock::now();
    step.RunOnH(base, &iak, model::IakPhase::kCompression, kBeta, h.data(), kBatch, click.data(),
                conv.data(), eps.data());
    auto s6 = Clock::now();
    iak.TrainForward(h.data(), kBatch, eps.data(), h_out.data(), &ws);
    auto s7 = Clock::now();
    adam.Step(iak.mutable_params(), iak.grads().data());
    auto s8 = Clock::now();
    const Clock::time_point marks[] = {s0, s1, s2, s3, s4, s5, s6, s7, s8};
    for (int i = 0; i < 8; ++i) t[i] += std::chrono::duration<double>(marks[i + 1] - marks[i]).count();
  }
  double total = 0;
  for (int i = 0; i < 8; ++i) total += i == 6 ? 0 : t[i];
  std::printf("profile (one thread, %d batches of %d; ms per batch):\n", batches, kBatch);
  for (int i = 0; i < 8; ++i) {
    std::printf("  %-26s %7.3f ms  %5.1f%%\n", names[i], t[i] * 1e3 / batches, 100.0 * t[i] / total);
  }
}

// CPU seconds this process has used (all threads).
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// CPU seconds (user + system) process `pid` has used, from /proc; 0 if unknown.
double ChildCpuSeconds(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0.0;
  char buf[2048];
  const size_t got = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[got] = 0;
  const char* p = std::strrchr(buf, ')');  // fields after the command name
  if (p == nullptr) return 0.0;
  unsigned long utime = 0, stime = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
    return 0.0;
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

// One `iak ps` child serving a model directory written to a temp dir.
struct PsFixture {
  std::string dir;
  std::unique_ptr<cluster::ChildProcess> child;
  std::string address;
  std::string snapshot_id;
  net::ZmqTransport transport;
  std::unique_ptr<ps::PsClient> client;
  ~PsFixture() {
    client.reset();
    if (child) child->Stop(Duration(3000));
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

Status StartPs(const std::unordered_map<uint64_t, std::vector<float>>& table,
               const model::BaseModel& base, PsFixture* ps) {
  std::string pattern = (std::filesystem::temp_directory_path() / "iak-step-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return IoError("mkdtemp " + pattern);
  ps->dir = pattern;
  embedding::SnapshotContents contents;
  contents.embedding_dim = kDim;
  contents.num_shards = 1;
  contents.table = &table;
  contents.dense_blob = base.Serialize();
  contents.base_manifest.set_num_tasks(2);
  for (int w : base.config().bottom_hidden) contents.base_manifest.add_bottom_hidden(w);
  for (int w : base.config().tower_hidden) contents.base_manifest.add_tower_hidden(w);
  contents.base_manifest.set_data_description("W2 step benchmark: random rows");
  const auto write_start = Clock::now();
  IAK_RETURN_IF_ERROR(embedding::WriteModelDirectory(ps->dir + "/model", contents));
  std::printf("wrote the W2 model directory (%zu rows) in %.1f s\n", table.size(), Seconds(write_start));
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model, embedding::LoadModelDirectory(ps->dir + "/model"));
  ps->snapshot_id = model.manifest.snapshot_id();
  ps->address = "tcp://127.0.0.1:" + std::to_string(FreePortOrDie());
  IAK_ASSIGN_OR_RETURN(ps->child,
                       cluster::ChildProcess::Start(
                           "ps", {cluster::SelfExecutablePath(), "ps", "--model_dir=" + ps->dir + "/model",
                                  "--ps_listen=" + ps->address, "--shard=0"},
                           ps->dir + "/ps.log"));
  ps::PsClientOptions options;
  proto::ServerAddress server;
  server.set_shard(0);
  server.set_address(ps->address);
  options.servers.push_back(server);
  options.snapshot_id = ps->snapshot_id;
  options.dim = kDim;
  options.pull_timeout = Duration(2000);
  options.max_attempts = 1;
  options.name = "step-bench";
  // The child loads the shard before it listens: retry a probe pull until it
  // answers, for at most 120 s.
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  const uint64_t probe = FeatureKey(0, 0);
  std::vector<float> row(kDim);
  while (true) {
    ps->client = std::make_unique<ps::PsClient>(options, &ps->transport);
    IAK_RETURN_IF_ERROR(ps->client->Connect());
    Status pulled = ps->client->Pull(&probe, 1, row.data(), nullptr);
    if (pulled.ok()) break;
    if (ps->child->Poll().has_value()) {
      return UnavailableError("the iak ps child exited early; see " + ps->dir + "/ps.log");
    }
    if (Clock::now() > deadline) return pulled.WithContext("the iak ps child never answered");
  }
  ps->client.reset();
  options.pull_timeout = Duration(10000);
  options.max_attempts = 3;
  ps->client = std::make_unique<ps::PsClient>(options, &ps->transport);
  return ps->client->Connect();
}

}  // namespace

int RunStepBench(int, char**) {
  if (FLAGS_source != "local" && FLAGS_source != "ps") {
    std::fprintf(stderr, "iak bench step: --source must be local or ps, got '%s'\n", FLAGS_source.c_str());
    return 2;
  }
  const int batches = std::max(1, FLAGS_step_batches);
  const size_t num_samples = static_cast<size_t>(batches) * kBatch;
  std::printf("W2 step: %d fields x dim %d, bottom 416-256-128, IAK 128-64-(2x32) / 32-64-128, "
              "ESMM towers 128-64-1, batch %d, %d rows/field, source=%s\n",
              kFields, kDim, kBatch, FLAGS_step_rows_per_field, FLAGS_source.c_str());
  const data::Dataset data = MakeData(num_samples, FLAGS_step_rows_per_field, 1);
  model::BaseModel base(bench::W2BaseConfig());
  base.Init(2);
  const auto table = MakeTable(FLAGS_step_rows_per_field, 3);

  PsFixture ps;
  std::unique_ptr<worker::RowSource> source;
  if (FLAGS_source == "ps") {
    Status started = StartPs(table, base, &ps);
    if (!started.ok()) {
      std::fprintf(stderr, "iak bench step: %s\n", started.ToString().c_str());
      return 1;
    }
    source = std::make_unique<worker::PsRowSource>(ps.client.get());
  } else {
    source = std::make_unique<worker::MemoryRowSource>(table, kDim);
  }

  std::vector<double> reference;
  if (FLAGS_step_reference) {
    RunReference(data, base, source.get(), 4, 9);  // warm-up
    for (int r = 0; r < FLAGS_step_repeats; ++r) {
      const double cpu0 = ProcessCpuSeconds();
      reference.push_back(RunReference(data, base, source.get(), batches, 10 + r));
      std::printf("  reference repeat %d: %.0f samples/s, %.2f CPU us/sample (worker)\n", r,
                  reference.back(), (ProcessCpuSeconds() - cpu0) * 1e6 / num_samples);
    }
    std::printf("reference (skeleton) step: %.0f samples/s (median of %d)\n", Median(reference),
                FLAGS_step_repeats);
  }

  // The fast path with a local table resolves every key of the data once
  // (the table is frozen) and then pools by direct index.
  std::unique_ptr<worker::ResolvedRows> resolved;
  if (FLAGS_source == "local") {
    const auto resolve_start = Clock::now();
    resolved = std::make_unique<worker::ResolvedRows>(
        data, static_cast<const worker::MemoryRowSource*>(source.get()));
    std::printf("resolved %zu keys to rows once in %.3f s\n", data.keys.size(), Seconds(resolve_start));
  }
  // The fast path: our own threads split the batch, each GEMM single-threaded.
  const int threads = std::max(1, FLAGS_step_threads);
  model::SetBlasThreads(1);
  RunFast(data, base, source.get(), nullptr, 1, threads, 19, resolved.get());  // warm-up
  std::vector<double> fast;
  std::vector<double> cpu_us;  // CPU microseconds per sample, this process + the PS child
  const pid_t ps_pid = ps.child ? ps.child->pid() : 0;
  for (int r = 0; r < FLAGS_step_repeats; ++r) {
    const double cpu0 = ProcessCpuSeconds() + (ps_pid ? ChildCpuSeconds(ps_pid) : 0.0);
    const double seconds = RunFast(data, base, source.get(), nullptr, 1, threads, 20 + r, resolved.get())[0];
    const double cpu = ProcessCpuSeconds() + (ps_pid ? ChildCpuSeconds(ps_pid) : 0.0) - cpu0;
    fast.push_back(static_cast<double>(num_samples) / seconds);
    cpu_us.push_back(cpu * 1e6 / num_samples);
    std::printf("  fast repeat %d: %.0f samples/s, %.2f CPU us/sample\n", r, fast.back(), cpu_us.back());
  }
  std::printf("fast step (pipeline + %d compute threads): %.0f samples/s (median of %d)\n",
              threads, Median(fast), FLAGS_step_repeats);
  // The machines here are shared: CPU time per sample says what 2 dedicated
  // cores would give, whatever the other tenants do to the wall clock.
  std::printf("CPU per sample (worker%s): %.2f us -> %.0f samples/s on 2 dedicated cores; "
              "load average now %.2f\n",
              ps_pid ? " + PS" : "", Median(cpu_us), 2e6 / Median(cpu_us), LoadAverage());

  Profile(data, base, source.get(), resolved.get(), std::min(batches, 16));

  // Epochs with and without the frozen-prefix cache (3 epochs over the data).
  constexpr int kEpochs = 3;
  const std::vector<double> uncached = RunFast(data, base, source.get(), nullptr, kEpochs, threads, 30, resolved.get());
  worker::FrozenPrefixCacheOptions cache_options;
  cache_options.width = base.config().h_dim();
  cache_options.num_samples = data.size();
  auto cache = worker::FrozenPrefixCache::Create(cache_options);
  CHECK(cache.ok()) << cache.status();
  const std::vector<double> cached = RunFast(data, base, source.get(), cache->get(), kEpochs, threads, 30, resolved.get());
  std::printf("epoch seconds (%zu samples), without cache:", num_samples);
  for (double s : uncached) std::printf(" %.3f", s);
  std::printf("\nepoch seconds (%zu samples), with frozen-prefix cache:", num_samples);
  for (double s : cached) std::printf(" %.3f", s);
  const double cached_later = Median(std::vector<double>(cached.begin() + 1, cached.end()));
  const double uncached_later = Median(std::vector<double>(uncached.begin() + 1, uncached.end()));
  std::printf("\nepochs 2+: %.0f samples/s with the cache vs %.0f without (%.1fx)\n",
              num_samples / cached_later, num_samples / uncached_later, uncached_later / cached_later);
  std::printf("{\"benchmark\":\"step\",\"source\":\"%s\",\"samples_per_s\":%.0f,"
              "\"reference_samples_per_s\":%.0f,\"threads\":%d,"
              "\"epoch_s_uncached\":%.3f,\"epoch_s_cached\":%.3f,"
              "\"cached_epoch_samples_per_s\":%.0f,\"cpu_us_per_sample\":%.2f,"
              "\"samples_per_s_2_dedicated_cores\":%.0f}\n",
              FLAGS_source.c_str(), Median(fast), Median(reference), threads, uncached_later,
              cached_later, num_samples / cached_later, Median(cpu_us), 2e6 / Median(cpu_us));
  return 0;
}

}  // namespace iak::bench
