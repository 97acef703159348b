// `iak bench push`: the trainable parameter server (docs/trainable_ps.md).
//
// Workload: one table of --push_rows keys x 16 float32 (seeded, keys spread
// over the 64-bit space) written as a one-shard model directory in a temp
// dir, served by a TRAINABLE PsServer (--push_optimizer) on a thread of this
// process over ZeroMQ TCP loopback; this process pushes batches of
// --push_batch distinct, uniformly random keys with random gradients through
// ps::PsClient::Push, one after another, for --push_seconds per repeat; then
// pulls the same kind of batches from the trained server (float32 replies,
// overlay consulted) for as long. Finally the server writes its trained
// snapshot (timed once).
//
// Printed: per repeat keys/s; medians of push keys/s, pull keys/s from the
// trainable server, p50/p99 of one push; rows trained; snapshot write time;
// the last line is one JSON object.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/bench_limits.h"
#include "bench/bench_stats.h"
#include "common/clock.h"
#include "embedding/snapshot_writer.h"
#include "net/free_port.h"
#include "net/zmq_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"

DEFINE_int64(push_rows, 1000000, "push bench: rows in the table");
DEFINE_int32(push_batch, 8192, "push bench: distinct keys per push / pull");
DEFINE_double(push_seconds, 1.0, "push bench: seconds per timed repeat");
DEFINE_int32(push_repeats, 5, "push bench: timed repeats (medians are reported)");
DEFINE_string(push_optimizer, "adagrad", "push bench: adagrad or adam");

namespace iak::bench {
namespace {

constexpr int kDim = 16;
// Rows of the pushed table: its model is written and loaded whole (about
// 4.3 GiB of float32 rows at this bound).
constexpr int64_t kMaxPushRows = int64_t{1} << 26;
constexpr int kPoolBatches = 64;
using Clock = std::chrono::steady_clock;

int Fail(const Status& status) {
  std::fprintf(stderr, "iak bench push: %s\n", status.ToString().c_str());
  return 1;
}

// A one-shard model directory of `rows` random keys with N(0, 1) rows;
// returns the keys.
StatusOr<std::vector<uint64_t>> WriteRandomModel(const std::string& model_dir, int64_t rows,
                                                 std::mt19937_64* rng) {
  std::vector<uint64_t> keys;
  std::unordered_set<uint64_t> seen;
  while (keys.size() < static_cast<size_t>(rows)) {
    const uint64_t key = (*rng)();
    if (seen.insert(key).second) keys.push_back(key);
  }
  std::vector<float> values(keys.size() * kDim);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : values) v = normal(*rng);
  embedding::SnapshotContents contents;
  contents.options.embedding_dim = kDim;
  contents.options.num_shards = 1;
  contents.keys = &keys;
  contents.values = &values;
  contents.options.dense_blob = "push bench";
  IAK_RETURN_IF_ERROR(embedding::WriteModelDirectory(model_dir, contents));
  return keys;
}

// kPoolBatches batches of `batch` distinct keys drawn from `keys`.
std::vector<std::vector<uint64_t>> DrawBatches(const std::vector<uint64_t>& keys, size_t batch,
                                               std::mt19937_64* rng) {
  std::vector<std::vector<uint64_t>> batches(kPoolBatches);
  std::uniform_int_distribution<size_t> pick(0, keys.size() - 1);
  for (auto& b : batches) {
    std::unordered_set<uint64_t> in_batch;
    while (b.size() < batch) {
      const uint64_t key = keys[pick(*rng)];
      if (in_batch.insert(key).second) b.push_back(key);
    }
  }
  return batches;
}

void Report(ps::RowOptimizerKind kind, size_t batch, const std::vector<double>& push_rates,
            const std::vector<double>& pull_rates, const std::vector<double>& push_us,
            double write_s) {
  const double push_median = Median(push_rates);
  const double pull_median = Median(pull_rates);
  std::printf("trainable PS (%s), %lld rows x %d, batches of %zu distinct keys, TCP loopback\n",
              ps::RowOptimizerName(kind), static_cast<long long>(FLAGS_push_rows), kDim, batch);
  std::printf("  push keys/s (median):            %.2f M\n", push_median / 1e6);
  std::printf("  push latency p50 / p99:          %.0f / %.0f us\n", Percentile(push_us, 0.5),
              Percentile(push_us, 0.99));
  std::printf("  pull keys/s from it (median):    %.2f M\n", pull_median / 1e6);
  std::printf("  trained snapshot write:          %.2f s\n", write_s);
  std::printf(
      "{\"bench\":\"push\",\"rows\":%lld,\"dim\":%d,\"optimizer\":\"%s\",\"batch\":%zu,"
      "\"push_keys_per_s\":%.0f,\"push_p50_us\":%.1f,\"push_p99_us\":%.1f,"
      "\"trainable_pull_keys_per_s\":%.0f,\"snapshot_write_s\":%.3f}\n",
      static_cast<long long>(FLAGS_push_rows), kDim, ps::RowOptimizerName(kind), batch,
      push_median, Percentile(push_us, 0.5), Percentile(push_us, 0.99), pull_median, write_s);
}

// Checked before any work. No repeats, or --push_seconds of 0, negative or
// NaN, printed zero rates as if measured; an infinite --push_seconds never
// ended; a table past kMaxPushRows ran for minutes writing its model.
Status CheckPushFlags() {
  if (FLAGS_push_rows < 1 || FLAGS_push_rows > kMaxPushRows) {
    return InvalidArgumentError("--push_rows must be in [1, " + std::to_string(kMaxPushRows) +
                                "], not " + std::to_string(FLAGS_push_rows));
  }
  if (FLAGS_push_batch < 1 || FLAGS_push_batch > FLAGS_push_rows ||
      FLAGS_push_batch > kMaxBenchSamples) {
    return InvalidArgumentError("--push_batch must be in [1, --push_rows] and at most " +
                                std::to_string(kMaxBenchSamples) + ", not " +
                                std::to_string(FLAGS_push_batch));
  }
  if (!(FLAGS_push_seconds > 0 && FLAGS_push_seconds <= kMaxBenchSeconds)) {  // also NaN
    return InvalidArgumentError("--push_seconds must be in (0, " +
                                std::to_string(static_cast<int>(kMaxBenchSeconds)) + "], not " +
                                std::to_string(FLAGS_push_seconds));
  }
  if (FLAGS_push_repeats < 1 || FLAGS_push_repeats > kMaxBenchRepeats) {
    return InvalidArgumentError("--push_repeats must be in [1, " +
                                std::to_string(kMaxBenchRepeats) + "], not " +
                                std::to_string(FLAGS_push_repeats));
  }
  return Status::Ok();
}

}  // namespace

int RunPushBench(int, char**) {
  StatusOr<ps::RowOptimizerKind> kind = ps::ParseRowOptimizer(FLAGS_push_optimizer);
  if (!kind.ok()) return Fail(kind.status());
  if (Status flags = CheckPushFlags(); !flags.ok()) {
    std::fprintf(stderr, "iak bench push: %s\n", flags.message().c_str());
    return 2;
  }
  char pattern[] = "/tmp/iak-push-bench-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return Fail(IoError("mkdtemp failed"));
  const std::string dir = pattern;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};

  // The table.
  std::mt19937_64 rng(1);
  StatusOr<std::vector<uint64_t>> keys = WriteRandomModel(dir + "/model", FLAGS_push_rows, &rng);
  if (!keys.ok()) return Fail(keys.status());

  // The trainable server.
  StatusOr<int> port = net::PickFreeLoopbackPort();
  if (!port.ok()) return Fail(port.status());
  net::ZmqTransport server_transport;
  ps::PsServerOptions options;
  options.model_dir = dir + "/model";
  options.listen_address = "tcp://127.0.0.1:" + std::to_string(*port);
  options.trainable.enabled = true;
  options.trainable.optimizer.kind = *kind;
  ps::PsServer server(options, &server_transport);
  Status started = server.Start();
  if (!started.ok()) return Fail(started);
  std::atomic<bool> stop{false};
  std::thread serving([&] {
    Status ran = server.Run(stop);
    if (!ran.ok()) LOG(ERROR) << ran;
  });

  net::ZmqTransport client_transport;
  ps::PsClientOptions client_options;
  proto::ServerAddress address;
  address.set_shard(0);
  address.set_address(server.address());
  client_options.servers = {address};
  client_options.snapshot_id = server.snapshot_id();
  client_options.dim = kDim;
  client_options.name = "push-bench";
  ps::PsClient client(client_options, &client_transport);
  Status connected = client.Connect();
  if (!connected.ok()) return Fail(connected);

  // Pre-drawn batches of distinct keys and gradients, cycled.
  const size_t batch = static_cast<size_t>(FLAGS_push_batch);
  const std::vector<std::vector<uint64_t>> batches = DrawBatches(*keys, batch, &rng);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> grads(batch * kDim);
  for (float& g : grads) g = normal(rng) * 0.1f;
  std::vector<float> rows(batch * kDim);

  auto timed = [&](bool push, std::vector<double>* per_op_us) -> StatusOr<double> {
    size_t done = 0;
    size_t next = 0;
    const auto start = Clock::now();
    while (SecondsSince(start) < FLAGS_push_seconds) {
      const std::vector<uint64_t>& b = batches[next++ % batches.size()];
      const auto op = Clock::now();
      Status status = push ? client.Push(b.data(), b.size(), grads.data())
                           : client.Pull(b.data(), b.size(), rows.data(), nullptr);
      IAK_RETURN_IF_ERROR(status);
      if (per_op_us != nullptr) per_op_us->push_back(SecondsSince(op) * 1e6);
      done += b.size();
    }
    return static_cast<double>(done) / SecondsSince(start);
  };

  std::vector<double> push_rates, pull_rates, push_us;
  for (int r = 0; r < FLAGS_push_repeats; ++r) {
    StatusOr<double> rate = timed(true, &push_us);
    if (!rate.ok()) return Fail(rate.status());
    push_rates.push_back(*rate);
    std::printf("  push repeat %d: %.2f M keys/s\n", r + 1, *rate / 1e6);
  }
  for (int r = 0; r < FLAGS_push_repeats; ++r) {
    StatusOr<double> rate = timed(false, nullptr);
    if (!rate.ok()) return Fail(rate.status());
    pull_rates.push_back(*rate);
    std::printf("  pull repeat %d (trainable server): %.2f M keys/s\n", r + 1, *rate / 1e6);
  }
  stop.store(true);
  serving.join();
  const auto write_start = Clock::now();
  Status trained = server.WriteTrainedSnapshot(dir + "/trained");
  if (!trained.ok()) return Fail(trained);
  const double write_s = SecondsSince(write_start);

  Report(*kind, batch, push_rates, pull_rates, push_us, write_s);
  return 0;
}

}  // namespace iak::bench
