// `iak bench pull`: W1 of docs/BENCHMARKS.md, the parameter server's main job.
//
// Workload (the defaults are exactly W1): one table of 2,000,000 keys x 16
// float32, keys spread over the whole 64-bit space; it is written as a model
// directory (seeded) in a temp dir and served by `iak ps` child processes
// (one per shard) on this host; this process is the worker and pulls batches
// of 8,192 uniformly random, deduplicated keys through ps::PsClient, one
// request after another, for --pull_seconds per repeat. The lookups are the
// real path: key -> row through the shard's in-memory index, rows copied into
// the reply, sent over ZeroMQ, scattered into the caller's buffer.
//
// The table is a seeded synthetic one (embedding/synthetic_table.h) streamed
// to disk, so any --pull_rows fits: keys are drawn by row index and every
// reply's rows can be checked against the seed.
//
// Variants:
//   --pull_model_dir=D  serve D (written by `iak snapshot synth` with the
//                       same --seed) instead of synthesising a table; the
//                       first reply is checked against the seed
//   --memory_budget_mb=M, --block_cache_mb=C
//                       passed to each `iak ps`: a shard over M MB is served
//                       from RocksDB through a C MB block cache
//   --ps_lookup_threads=T
//                       passed to each server: T threads look up one pull
//                       (1 = the server's thread alone; default one per core)
//   --shards=2          two PS processes (requests to both in flight at once)
//   --transport=ipc     ZeroMQ over a Unix socket instead of TCP loopback
//   --keys=zipf         Zipf-distributed keys (--pull_zipf_s) with the
//                       worker row cache on (--pull_cache_mb); reports the hit
//                       rate and effective keys/s (cache hits included)
//   --dtype=fp16|int8   rows stored, served and sent quantised, decoded by
//                       the client
//   --pull_inproc       the PS runs in a thread of this process (still ZeroMQ)
//   --pull_keys_per_request=N  the client's split of a pull into requests in
//                       flight at once (0 = one request per shard)
//
// Printed: per repeat keys/s, then medians of keys/s, MB/s of float32 rows
// delivered, wire MB/s, p50/p99 latency of one Pull, CPU time per pull
// (this process and the PS children: the figure that does not move with
// other tenants' load), the servers' peak RSS (VmHWM) and the snapshot's
// size on disk; the last line is one JSON object with `keys_per_s`.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/bench_limits.h"
#include "bench/bench_stats.h"
#include "bench/cpu_time.h"
#include "bench/loopback_port.h"
#include "cluster/child_process.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/keys.h"
#include "common/process_memory.h"
#include "embedding/embedding_shard.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/row_codec.h"
#include "embedding/synthetic_table.h"
#include "job/job_spec.h"
#include "net/free_port.h"
#include "net/zmq_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"

DEFINE_string(transport, "tcp", "pull bench: tcp (loopback) or ipc");
DEFINE_string(keys, "uniform",
              "pull bench: key distribution, uniform or zipf (zipf turns on the worker row cache)");
DEFINE_string(dtype, "float32", "pull bench: how rows are stored and sent: float32, fp16 or int8");
DEFINE_int64(pull_rows, 2000000, "pull bench: rows in the table");
DEFINE_int32(pull_batch, 8192, "pull bench: distinct keys per pull");
DEFINE_double(pull_seconds, 2.0, "pull bench: seconds per timed repeat");
DEFINE_int32(pull_repeats, 5, "pull bench: timed repeats (medians are reported)");
DEFINE_bool(pull_inproc, false, "pull bench: run the PS in a thread of this process");
DEFINE_double(pull_zipf_s, 0.99, "pull bench: Zipf exponent for --keys=zipf");
DEFINE_int64(pull_cache_mb, 64, "pull bench: worker row cache budget (MB) for --keys=zipf");
DEFINE_int64(pull_keys_per_request, static_cast<int64_t>(iak::ps::kDefaultKeysPerRequest),
             "pull bench: most keys per request; a larger pull goes out as several requests in "
             "flight at once (0 = one request per shard)");
DEFINE_bool(pull_lookup_alone, false,
            "pull bench: also time shard 0's in-memory lookup alone (no transport) as a ceiling");
DEFINE_string(pull_model_dir, "",
              "pull bench: serve this snapshot (from `iak snapshot synth` with the same --seed) "
              "instead of synthesising one");
DEFINE_int32(pull_server_timeout_s, 900,
             "pull bench: how long the servers may take to load and verify their shards");

namespace iak::bench {
namespace {

constexpr int kDefaultDim = 16;
constexpr int kPoolBatches = 256;  // pre-drawn batches, cycled (2M keys drawn in all)
constexpr int64_t kMaxPullCacheMb = int64_t{1} << 20;  // 1 TiB: the cache is allocated whole

using Clock = std::chrono::steady_clock;

// A flag owned by another command (e.g. `iak pretrain --shards`), read by
// name so this file links without it; `fallback` when unset or absent.
int64_t ForeignIntFlag(const char* name, int64_t fallback) {
  gflags::CommandLineFlagInfo info;
  if (!gflags::GetCommandLineFlagInfo(name, &info) || info.is_default) return fallback;
  return std::stoll(info.current_value);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Config {
  int64_t rows = 0;
  int dim = kDefaultDim;
  int shards = 1;
  int batch = 0;
  uint64_t seed = 1;
  bool ipc = false;
  bool zipf = false;
  embedding::RowDtype dtype = embedding::RowDtype::kFloat32;
  std::string model_dir;  // given: serve it; empty: synthesise one
  int64_t memory_budget_mb = 0;
  int64_t block_cache_mb = 0;  // 0 = the server's default
  int64_t lookup_threads = 0;  // 0 = the server's default
};

// The PS side: a work dir (logs, sockets, a synthesised model) and servers.
struct Cluster {
  std::string dir;        // removed at the end
  std::string model_dir;  // dir/model, or the one given
  std::string snapshot_id;
  double write_seconds = 0;  // synthesising the table (0 when given)
  uint64_t disk_bytes = 0;
  std::vector<std::string> addresses;  // index = shard
  std::vector<std::unique_ptr<cluster::ChildProcess>> children;
  // --pull_inproc: servers on threads of this process.
  net::ZmqTransport server_transport;
  std::vector<std::unique_ptr<ps::PsServer>> servers;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};

  ~Cluster() {
    stop.store(true);
    for (std::thread& t : threads) t.join();
    servers.clear();
    for (auto& child : children) child->Stop(Duration(10000));
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

// Synthesises the table (streamed to disk) or takes the given one, and
// reads its shape from the manifest.
Status PrepareTable(Config* config, Cluster* cluster) {
  std::string pattern = (std::filesystem::temp_directory_path() / "iak-pull-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return IoError("mkdtemp " + pattern);
  cluster->dir = pattern;
  if (config->model_dir.empty()) {
    cluster->model_dir = cluster->dir + "/model";
    embedding::SyntheticSnapshotOptions options;
    options.out_dir = cluster->model_dir;
    options.rows = static_cast<uint64_t>(config->rows);
    options.dim = config->dim;
    options.dtype = config->dtype;
    options.num_shards = config->shards;
    options.seed = config->seed;
    const auto start = Clock::now();
    IAK_RETURN_IF_ERROR(embedding::SynthesizeSnapshot(options).status());
    cluster->write_seconds = SecondsSince(start);
    std::printf("wrote %lld rows x %d (%s, %d shard(s)) in %.1f s (%.0f rows/s)\n",
                static_cast<long long>(config->rows), config->dim,
                embedding::RowDtypeName(config->dtype), config->shards, cluster->write_seconds,
                static_cast<double>(config->rows) / cluster->write_seconds);
  } else {
    cluster->model_dir = config->model_dir;
  }
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model,
                       embedding::LoadModelDirectory(cluster->model_dir));
  cluster->snapshot_id = model.manifest.snapshot_id();
  cluster->disk_bytes = DirectoryBytes(cluster->model_dir);
  // The served table decides the shape.
  int64_t rows = 0;
  for (const proto::ShardInfo& shard : model.manifest.shards()) rows += shard.num_rows();
  config->rows = rows;
  config->dim = model.manifest.embedding_dim();
  config->shards = model.manifest.num_shards();
  IAK_ASSIGN_OR_RETURN(config->dtype, embedding::ParseRowDtype(model.manifest.row_dtype()));
  return Status::Ok();
}

Status StartServers(const Config& config, Cluster* cluster) {
  for (int shard = 0; shard < config.shards; ++shard) {
    const std::string address =
        config.ipc ? "ipc://" + cluster->dir + "/ps-" + std::to_string(shard) + ".sock"
                   : "tcp://127.0.0.1:" + std::to_string(FreePortOrDie());
    cluster->addresses.push_back(address);
    if (FLAGS_pull_inproc) {
      ps::PsServerOptions options;
      options.model_dir = cluster->model_dir;
      options.memory_budget_bytes = static_cast<uint64_t>(config.memory_budget_mb) << 20;
      if (config.block_cache_mb > 0) {
        options.block_cache_bytes = static_cast<uint64_t>(config.block_cache_mb) << 20;
      }
      options.lookup_threads = static_cast<int>(config.lookup_threads);
      options.shard = shard;
      options.listen_address = address;
      options.name = "ps-" + std::to_string(shard);
      auto server = std::make_unique<ps::PsServer>(options, &cluster->server_transport);
      IAK_RETURN_IF_ERROR(server->Start());
      ps::PsServer* raw = server.get();
      cluster->servers.push_back(std::move(server));
      cluster->threads.emplace_back([raw, cluster] {
        Status done = raw->Run(cluster->stop);
        if (!done.ok()) LOG(ERROR) << done;
      });
    } else {
      std::vector<std::string> argv = {cluster::SelfExecutablePath(), "ps",
                                       "--model_dir=" + cluster->model_dir,
                                       "--ps_listen=" + address,
                                       "--shard=" + std::to_string(shard)};
      if (config.memory_budget_mb > 0) {
        argv.push_back("--memory_budget_mb=" + std::to_string(config.memory_budget_mb));
      }
      if (config.block_cache_mb > 0) {
        argv.push_back("--block_cache_mb=" + std::to_string(config.block_cache_mb));
      }
      if (config.lookup_threads > 0) {
        argv.push_back("--ps_lookup_threads=" + std::to_string(config.lookup_threads));
      }
      IAK_ASSIGN_OR_RETURN(std::unique_ptr<cluster::ChildProcess> child,
                           cluster::ChildProcess::Start(
                               "ps-" + std::to_string(shard), argv,
                               cluster->dir + "/ps-" + std::to_string(shard) + ".log"));
      cluster->children.push_back(std::move(child));
    }
  }
  return Status::Ok();
}

ps::PsClientOptions ClientOptions(const Config& config, const Cluster& cluster) {
  ps::PsClientOptions options;
  for (int shard = 0; shard < config.shards; ++shard) {
    proto::ServerAddress server;
    server.set_shard(shard);
    server.set_address(cluster.addresses[shard]);
    server.set_name("ps-" + std::to_string(shard));
    options.servers.push_back(server);
  }
  options.snapshot_id = cluster.snapshot_id;
  options.dim = config.dim;
  options.name = "pull-bench";
  return options;
}

// Checks pulled rows against the synthetic table: exact for float32, within
// the dtype's rounding otherwise.
Status CheckRows(const Config& config, const Cluster& cluster, const std::vector<uint64_t>& index,
                 const std::vector<float>& rows) {
  std::vector<float> expected(static_cast<size_t>(config.dim));
  const float tolerance = config.dtype == embedding::RowDtype::kFloat32 ? 0.0f : 0.01f;
  for (size_t i = 0; i < index.size(); ++i) {
    embedding::SyntheticRow(config.seed, index[i], config.dim, expected.data());
    for (int j = 0; j < config.dim; ++j) {
      if (std::fabs(rows[i * config.dim + j] - expected[j]) > tolerance) {
        return FailedPreconditionError(
            "the snapshot " + cluster.model_dir + " does not hold the synthetic rows of seed " +
            std::to_string(config.seed) + " (row " + std::to_string(index[i]) +
            " differs); write it with `iak snapshot synth --seed=" + std::to_string(config.seed) +
            "` or pass that snapshot's --seed");
      }
    }
  }
  return Status::Ok();
}

// Waits (at most --pull_server_timeout_s) until every shard answers: the
// children load and verify their shards before they listen. Then checks the
// rows of a probe against the seed.
Status AwaitServers(const Config& config, const Cluster& cluster, net::Transport* transport) {
  ps::PsClientOptions options = ClientOptions(config, cluster);
  options.pull_timeout = Duration(1000);
  options.max_attempts = 1;
  const auto deadline = Clock::now() + std::chrono::seconds(FLAGS_pull_server_timeout_s);
  std::vector<uint64_t> index, probe;
  for (uint64_t i = 0; i < std::min<uint64_t>(static_cast<uint64_t>(config.rows), 64); ++i) {
    index.push_back(i * (static_cast<uint64_t>(config.rows) / 64 + 1) % config.rows);
    probe.push_back(embedding::SyntheticKey(config.seed, index.back()));
  }
  std::vector<float> rows(probe.size() * config.dim);
  while (true) {
    ps::PsClient client(options, transport);
    IAK_RETURN_IF_ERROR(client.Connect());
    Status pulled = client.Pull(probe.data(), probe.size(), rows.data(), nullptr);
    if (pulled.ok()) return CheckRows(config, cluster, index, rows);
    if (pulled.code() != StatusCode::kUnavailable &&
        pulled.code() != StatusCode::kDeadlineExceeded) {
      return pulled;
    }
    for (const auto& child : cluster.children) {
      std::optional<int> code = const_cast<cluster::ChildProcess&>(*child).Poll();
      if (code.has_value()) {
        return UnavailableError("PS child " + child->name() + " exited with code " +
                                std::to_string(*code) + "; see " + child->log_path());
      }
    }
    if (Clock::now() > deadline) return pulled.WithContext("the PS never answered");
  }
}

// kPoolBatches batches of `batch` distinct keys each, drawn by row index
// (uniform, or Zipf over a seeded permutation of the rows).
std::vector<std::vector<uint64_t>> DrawBatches(const Config& config) {
  std::mt19937_64 rng(config.seed + 7);
  const size_t n = static_cast<size_t>(config.rows);
  std::vector<double> cdf;
  std::vector<uint32_t> rank_to_row;
  if (config.zipf) {
    cdf.resize(n);
    double total = 0.0;
    for (size_t r = 0; r < n; ++r) {
      total += 1.0 / std::pow(static_cast<double>(r + 1), FLAGS_pull_zipf_s);
      cdf[r] = total;
    }
    for (double& c : cdf) c /= total;
    rank_to_row.resize(n);
    for (size_t r = 0; r < n; ++r) rank_to_row[r] = static_cast<uint32_t>(r);
    std::shuffle(rank_to_row.begin(), rank_to_row.end(), rng);
  }
  std::uniform_int_distribution<size_t> uniform(0, n - 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const size_t batch = std::min<size_t>(static_cast<size_t>(config.batch), n);
  std::vector<std::vector<uint64_t>> batches(kPoolBatches);
  std::unordered_set<size_t> seen;
  for (int b = 0; b < kPoolBatches; ++b) {
    std::vector<uint64_t>& out = batches[b];
    out.reserve(batch);
    seen.clear();
    while (out.size() < batch) {
      size_t row;
      if (config.zipf) {
        const size_t rank = static_cast<size_t>(
            std::lower_bound(cdf.begin(), cdf.end(), unit(rng)) - cdf.begin());
        row = rank_to_row[std::min(rank, n - 1)];
      } else {
        row = uniform(rng);
      }
      if (!seen.insert(row).second) continue;  // deduplicated within the batch
      out.push_back(embedding::SyntheticKey(config.seed, row));
    }
  }
  return batches;
}

// The lookup path alone (index + row copy of shard 0, in this process), as
// the ceiling the transport is measured against.
Status TimeLookupAlone(const Cluster& cluster, const std::vector<std::vector<uint64_t>>& batches) {
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model,
                       embedding::LoadModelDirectory(cluster.model_dir));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<embedding::EmbeddingShard> shard,
                       embedding::EmbeddingShard::Open(model.path, model.manifest, 0));
  std::vector<char> out(batches[0].size() * shard->row_bytes());
  std::vector<double> rates, cpu_rates;
  size_t next = 0;
  for (int repeat = 0; repeat < 5; ++repeat) {
    uint64_t keys = 0;
    const auto start = Clock::now();
    const double cpu_start = ThreadCpuSeconds();
    while (SecondsSince(start) < 0.3) {
      const std::vector<uint64_t>& b = batches[next++ % batches.size()];
      shard->LookupEncoded(b.data(), b.size(), out.data());
      keys += b.size();
    }
    rates.push_back(static_cast<double>(keys) / SecondsSince(start));
    cpu_rates.push_back(static_cast<double>(keys) / (ThreadCpuSeconds() - cpu_start));
  }
  std::printf(
      "lookup alone (shard 0 in this process, no transport): %.1f M keys/s wall, %.1f M keys "
      "per CPU second\n",
      Median(rates) / 1e6, Median(cpu_rates) / 1e6);
  return Status::Ok();
}

// CPU seconds used so far by this process and the PS children.
double ClusterCpuSeconds(const Cluster& cluster, double* ps_seconds) {
  *ps_seconds = 0;
  for (const auto& child : cluster.children) *ps_seconds += ChildCpuSeconds(child->pid());
  return ProcessCpuSeconds() + *ps_seconds;
}

struct RepeatResult {
  double keys_per_s = 0;
  double cpu_us_per_pull = 0;     // this process + PS children
  double ps_cpu_us_per_pull = 0;  // PS children alone (0 with --pull_inproc)
  double row_mb_per_s = 0;   // float32 rows delivered to the caller
  double wire_mb_per_s = 0;  // key and row bytes on the wire
  double hit_rate = 0;
};

// Peak RSS of each server (VmHWM): the children's, or this process's when
// the servers are threads of it.
std::vector<uint64_t> ServerPeakRss(const Cluster& cluster) {
  std::vector<uint64_t> peaks;
  if (FLAGS_pull_inproc) {
    StatusOr<uint64_t> self = PeakResidentBytes();
    peaks.push_back(self.ok() ? *self : 0);
  }
  for (const auto& child : cluster.children) {
    StatusOr<uint64_t> peak = PeakResidentBytes(child->pid());
    peaks.push_back(peak.ok() ? *peak : 0);
  }
  return peaks;
}

// One timed repeat: pulls the batches in turn (from *next on) for
// --pull_seconds, appending each pull's latency to *latencies_us.
StatusOr<RepeatResult> TimeRepeat(const Config& config, const Cluster& cluster,
                                  const std::vector<std::vector<uint64_t>>& batches,
                                  ps::PsClient* client, size_t* next,
                                  std::vector<double>* latencies_us) {
  std::vector<float> rows(batches[0].size() * config.dim);
  ps::PullStats stats;
  uint64_t pulled_keys = 0;
  uint64_t wire_bytes = 0;
  uint64_t cache_hits = 0;
  uint64_t pulls = 0;
  double ps_cpu_start = 0;
  const double cpu_start = ClusterCpuSeconds(cluster, &ps_cpu_start);
  const auto repeat_start = Clock::now();
  double elapsed = 0;
  while (elapsed < FLAGS_pull_seconds) {
    const std::vector<uint64_t>& keys_now = batches[(*next)++ % batches.size()];
    const auto pull_start = Clock::now();
    IAK_RETURN_IF_ERROR(client->Pull(keys_now.data(), keys_now.size(), rows.data(), &stats));
    const auto pull_end = Clock::now();
    latencies_us->push_back(
        std::chrono::duration<double, std::micro>(pull_end - pull_start).count());
    pulled_keys += keys_now.size();
    wire_bytes += stats.bytes;
    cache_hits += stats.cache_hits;
    ++pulls;
    elapsed = std::chrono::duration<double>(pull_end - repeat_start).count();
  }
  double ps_cpu_end = 0;
  const double cpu_end = ClusterCpuSeconds(cluster, &ps_cpu_end);
  RepeatResult r;
  r.keys_per_s = static_cast<double>(pulled_keys) / elapsed;
  r.cpu_us_per_pull = (cpu_end - cpu_start) * 1e6 / static_cast<double>(pulls);
  r.ps_cpu_us_per_pull = (ps_cpu_end - ps_cpu_start) * 1e6 / static_cast<double>(pulls);
  r.row_mb_per_s = r.keys_per_s * config.dim * sizeof(float) / 1e6;
  r.wire_mb_per_s = static_cast<double>(wire_bytes) / elapsed / 1e6;
  r.hit_rate = static_cast<double>(cache_hits) / static_cast<double>(pulled_keys);
  return r;
}

Status RunBench(Config config) {
  Cluster cluster;
  IAK_RETURN_IF_ERROR(PrepareTable(&config, &cluster));
  const auto start = Clock::now();
  IAK_RETURN_IF_ERROR(StartServers(config, &cluster));
  net::ZmqTransport transport;
  IAK_RETURN_IF_ERROR(AwaitServers(config, cluster, &transport));
  const double load_seconds = SecondsSince(start);
  std::printf("%d PS %s up in %.1f s at %s%s\n", config.shards,
              FLAGS_pull_inproc ? "thread(s)" : "process(es)", load_seconds,
              cluster.addresses[0].c_str(), config.shards > 1 ? ", ..." : "");
  const std::vector<std::vector<uint64_t>> batches = DrawBatches(config);
  if (FLAGS_pull_lookup_alone) IAK_RETURN_IF_ERROR(TimeLookupAlone(cluster, batches));

  ps::PsClientOptions options = ClientOptions(config, cluster);
  options.keys_per_request = static_cast<size_t>(std::max<int64_t>(0, FLAGS_pull_keys_per_request));
  if (config.zipf) options.cache_bytes = static_cast<uint64_t>(FLAGS_pull_cache_mb) << 20;
  ps::PsClient client(options, &transport);
  IAK_RETURN_IF_ERROR(client.Connect());
  const size_t batch = batches[0].size();
  std::vector<float> rows(batch * config.dim);
  ps::PullStats stats;
  // Warm-up: one pass over a few batches (connections, page faults).
  for (int b = 0; b < 16; ++b) {
    IAK_RETURN_IF_ERROR(client.Pull(batches[b].data(), batch, rows.data(), &stats));
  }

  std::vector<RepeatResult> results;
  std::vector<double> latencies_us;
  size_t next = 0;
  for (int repeat = 0; repeat < FLAGS_pull_repeats; ++repeat) {
    IAK_ASSIGN_OR_RETURN(RepeatResult r,
                         TimeRepeat(config, cluster, batches, &client, &next, &latencies_us));
    results.push_back(r);
    std::printf("repeat %d: %.2f M keys/s, %.0f MB/s rows, %.0f MB/s wire, CPU %.0f us/pull",
                repeat + 1, r.keys_per_s / 1e6, r.row_mb_per_s, r.wire_mb_per_s,
                r.cpu_us_per_pull);
    if (config.zipf) std::printf(", cache hit rate %.1f%%", 100.0 * r.hit_rate);
    std::printf("\n");
  }
  std::vector<double> kps, row_mb, wire_mb, hits, cpu_us, ps_cpu_us;
  for (const RepeatResult& r : results) {
    kps.push_back(r.keys_per_s);
    cpu_us.push_back(r.cpu_us_per_pull);
    ps_cpu_us.push_back(r.ps_cpu_us_per_pull);
    row_mb.push_back(r.row_mb_per_s);
    wire_mb.push_back(r.wire_mb_per_s);
    hits.push_back(r.hit_rate);
  }
  // Read before the servers stop.
  uint64_t peak_rss_max = 0;
  for (uint64_t p : ServerPeakRss(cluster)) peak_rss_max = std::max(peak_rss_max, p);
  const double p50 = Percentile(latencies_us, 0.50);
  const double p99 = Percentile(latencies_us, 0.99);
  const char* transport_name = config.ipc ? "ipc" : "tcp";
  const double cpu_per_pull = Median(cpu_us);
  const double ps_cpu_per_pull = Median(ps_cpu_us);
  // Each figure once, for the human lines and the JSON line alike.
  const long long num_rows = static_cast<long long>(config.rows);
  const char* dtype_name = embedding::RowDtypeName(config.dtype);
  const char* keys_name = config.zipf ? "zipf" : "uniform";
  const double keys_per_s = Median(kps);
  const double row_mb_per_s = Median(row_mb);
  const double wire_mb_per_s = Median(wire_mb);
  const double hit_rate = Median(hits);
  const int lookup_threads = ps::LookupThreadsFor(static_cast<int>(config.lookup_threads));
  std::printf(
      "\nW1 pull: %lld rows x %d %s, %d shard(s), %s, %s keys, batch %zu, %s PS (%d lookup "
      "threads), %zu keys per request\n"
      "  keys/s (median of %d x %.1f s): %.2f M\n"
      "  MB/s rows delivered (float32):  %.0f\n"
      "  MB/s on the wire:               %.0f\n"
      "  latency per pull p50 / p99:     %.0f / %.0f us\n"
      "  keys/s at the p50 latency:      %.2f M\n"
      "  CPU per pull (worker + PS):     %.0f us (PS %.0f us), %.1f M keys per CPU second\n",
      num_rows, config.dim, dtype_name, config.shards, transport_name, keys_name, batch,
      FLAGS_pull_inproc ? "in-process" : "child-process", lookup_threads,
      options.keys_per_request, FLAGS_pull_repeats, FLAGS_pull_seconds, keys_per_s / 1e6, row_mb_per_s, wire_mb_per_s, p50,
      p99, static_cast<double>(batch) / p50, cpu_per_pull, ps_cpu_per_pull,
      static_cast<double>(batch) / cpu_per_pull);
  std::printf("  server peak RSS (VmHWM, largest):  %.0f MB; snapshot on disk %.0f MB; "
              "servers up in %.1f s%s\n",
              peak_rss_max / 1e6, cluster.disk_bytes / 1e6, load_seconds,
              config.memory_budget_mb > 0 ? " (memory budget set)" : "");
  if (config.zipf) {
    std::printf("  worker cache (%lld MB) hit rate:  %.1f%% (keys/s above are effective: hits "
                "included)\n",
                static_cast<long long>(FLAGS_pull_cache_mb), 100.0 * hit_rate);
  }
  std::printf(
      "{\"bench\":\"pull\",\"rows\":%lld,\"dim\":%d,\"dtype\":\"%s\",\"shards\":%d,"
      "\"transport\":\"%s\",\"keys\":\"%s\",\"batch\":%zu,\"inproc\":%s,\"keys_per_s\":%.0f,"
      "\"mb_per_s\":%.1f,\"wire_mb_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
      "\"cache_hit_rate\":%.4f,\"keys_per_request\":%zu,\"ps_lookup_threads\":%d,"
      "\"cpu_us_per_pull\":%.1f,"
      "\"memory_budget_mb\":%lld,\"block_cache_mb\":%lld,"
      "\"server_peak_rss_mb\":%.1f,\"disk_mb\":%.1f,\"server_load_s\":%.1f,"
      "\"write_rows_per_s\":%.0f}\n",
      num_rows, config.dim, dtype_name, config.shards, transport_name, keys_name, batch,
      FLAGS_pull_inproc ? "true" : "false", keys_per_s, row_mb_per_s, wire_mb_per_s, p50, p99,
      hit_rate, options.keys_per_request,
      lookup_threads, cpu_per_pull,
      static_cast<long long>(config.memory_budget_mb),
      static_cast<long long>(config.block_cache_mb), peak_rss_max / 1e6,
      cluster.disk_bytes / 1e6, load_seconds,
      cluster.write_seconds > 0 ? static_cast<double>(config.rows) / cluster.write_seconds : 0.0);
  return Status::Ok();
}

}  // namespace

int RunPullBench(int, char**) {
  Config config;
  config.rows = FLAGS_pull_rows;
  config.dim = static_cast<int>(ForeignIntFlag("dim", kDefaultDim));
  config.shards = static_cast<int>(ForeignIntFlag("shards", 1));
  config.seed = static_cast<uint64_t>(ForeignIntFlag("seed", 1));
  config.batch = FLAGS_pull_batch;
  config.model_dir = FLAGS_pull_model_dir;
  config.memory_budget_mb = ForeignIntFlag("memory_budget_mb", 0);
  config.block_cache_mb = ForeignIntFlag("block_cache_mb", 0);
  config.lookup_threads = ForeignIntFlag("ps_lookup_threads", 0);
  if (FLAGS_transport != "tcp" && FLAGS_transport != "ipc") {
    std::fprintf(stderr, "iak bench pull: --transport must be tcp or ipc, got '%s'\n",
                 FLAGS_transport.c_str());
    return 2;
  }
  config.ipc = FLAGS_transport == "ipc";
  if (FLAGS_keys != "uniform" && FLAGS_keys != "zipf") {
    std::fprintf(stderr, "iak bench pull: --keys must be uniform or zipf, got '%s'\n",
                 FLAGS_keys.c_str());
    return 2;
  }
  config.zipf = FLAGS_keys == "zipf";
  StatusOr<embedding::RowDtype> dtype = embedding::ParseRowDtype(FLAGS_dtype);
  if (!dtype.ok()) {
    std::fprintf(stderr, "iak bench pull: --dtype: %s\n", dtype.status().ToString().c_str());
    return 2;
  }
  config.dtype = *dtype;
  // `!(x > 0)` also refuses NaN.
  if (config.rows < 1 || config.dim < 1 || config.shards < 1 || config.batch < 1 ||
      FLAGS_pull_repeats < 1 || !(FLAGS_pull_seconds > 0)) {
    std::fprintf(stderr,
                 "iak bench pull: --pull_rows, --dim, --shards, --pull_batch, --pull_repeats "
                 "and --pull_seconds must be positive\n");
    return 2;
  }
  // An infinite --pull_seconds never ended; the repeats are bounded alike.
  if (FLAGS_pull_seconds > kMaxBenchSeconds || FLAGS_pull_repeats > kMaxBenchRepeats) {
    std::fprintf(stderr, "iak bench pull: --pull_seconds must be at most %.0f and --pull_repeats "
                 "at most %d\n", kMaxBenchSeconds, kMaxBenchRepeats);
    return 2;
  }
  // A NaN exponent makes every Zipf weight NaN and the draw of distinct keys
  // never ends; the cache is allocated whole, so its budget is bounded.
  if (config.zipf && !(std::isfinite(FLAGS_pull_zipf_s) && FLAGS_pull_zipf_s >= 0)) {
    std::fprintf(stderr, "iak bench pull: --pull_zipf_s must be a finite number >= 0, got %g\n",
                 FLAGS_pull_zipf_s);
    return 2;
  }
  // More threads than the system gives aborted the in-process server; a dim
  // past the manifest's or a server per huge --shards never got going.
  if (config.lookup_threads < 0 || config.lookup_threads > ps::kMaxLookupThreads ||
      config.dim > embedding::kMaxManifestEmbeddingDim || config.shards > job::kMaxNodes) {
    std::fprintf(stderr,
                 "iak bench pull: --ps_lookup_threads must be in [0, %d], --dim at most %d and "
                 "--shards at most %d, got %lld, %d and %d\n",
                 ps::kMaxLookupThreads, embedding::kMaxManifestEmbeddingDim, job::kMaxNodes,
                 static_cast<long long>(config.lookup_threads), config.dim, config.shards);
    return 2;
  }
  if (config.zipf && (FLAGS_pull_cache_mb < 0 || FLAGS_pull_cache_mb > kMaxPullCacheMb)) {
    std::fprintf(stderr,
                 "iak bench pull: --pull_cache_mb must be in [0, %lld] (0 = no cache), got %lld\n",
                 static_cast<long long>(kMaxPullCacheMb),
                 static_cast<long long>(FLAGS_pull_cache_mb));
    return 2;
  }
  Status status = RunBench(config);
  if (!status.ok()) {
    std::fprintf(stderr, "iak bench pull: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace iak::bench
