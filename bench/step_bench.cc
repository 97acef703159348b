// `iak bench step`: W2 of docs/BENCHMARKS.md, the worker's fine-tuning step.
//
// Model (exactly W2): 26 single-valued fields, embedding dim 16 (frozen),
// bottom MLP 416-256-128 ReLU (frozen), IAK encoder 128-64-(2x32) and decoder
// 32-64-128 (trainable), ESMM towers 128-64-1 for CTR and CVR (frozen); loss
// BCE(ctr) + BCE(ctcvr) + beta*KL; Adam on the IAK; batch 1,024; keys drawn
// uniformly from 100,000 rows per field.
//
// What is timed is the code users run: worker::Trainer (the one training
// loop) with LocalMembership, a SourceRowAccess over this bench's row source
// and a job spec with validation, checkpoints and results off; one epoch of
// --step_batches batches per repeat (the frozen-prefix cache off), then
// epochs 2+ with the cache on.
//
// --source=local: the table lives in this process (MemoryRowSource).
// --source=ps:    the table is written as a model directory in a temp dir and
//                 served by one `iak ps` child process over TCP loopback;
//                 rows are pulled through ps::PsClient.
// --peer:         the same step in PyTorch 2 (bench/peers/w2_step_torch.py,
//                 run by --peer_python) as a child process; its repeats
//                 alternate with ours and the ratio ours/PyTorch is printed
//                 and carried in the JSON. Skipped with a message when the
//                 interpreter or PyTorch is missing.
//
// Printed: samples/s and CPU time per sample of each repeat and their
// medians, a one-thread per-stage profile of the step's pieces, epochs 2+
// with the frozen-prefix cache. The last line is one JSON object.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_limits.h"
#include "bench/bench_stats.h"
#include "bench/cpu_time.h"
#include "bench/loopback_port.h"
#include "bench/peer_process.h"
#include "bench/w2_model.h"
#include "cluster/child_process.h"
#include "common/clock.h"
#include "common/json_reader.h"
#include "common/keys.h"
#include "data/dataset.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_writer.h"
#include "job/job_spec.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/blas_threads.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "model/gemm.h"
#include "model/iak_module.h"
#include "model/mersenne_twister.h"
#include "model/parallel_step.h"
#include "net/free_port.h"
#include "net/zmq_transport.h"
#include "ps/ps_client.h"
#include "worker/batch_pipeline.h"
#include "worker/local_membership.h"
#include "worker/pulled_rows.h"
#include "worker/resolved_rows.h"
#include "worker/row_access.h"
#include "worker/row_source.h"
#include "worker/trainer.h"
#include "worker/training_setup.h"

DEFINE_string(source, "local", "step bench: where rows come from: local (in-process table) or ps");
DEFINE_int32(step_batches, 48, "step bench: batches per timed repeat");
DEFINE_int32(step_repeats, 5, "step bench: timed repeats (the median is reported)");
DEFINE_int32(step_threads, 2, "step bench: compute threads of the fast path");
DEFINE_int32(step_rows_per_field, 100000, "step bench: distinct keys per field");
DEFINE_int64(step_pinned_rows_mb, 0,
             "step bench: --source=ps: MiB of pulled rows the worker keeps, each key pulled once "
             "(a job's pinned_rows_mb: 0 = its default, 256; -1 = off, every batch pulls)");
DEFINE_bool(step_reference, false,
            "step bench: no effect (the skeleton's reference loop was replaced by the PyTorch "
            "peer, --peer); kept so that old command lines still run");
DEFINE_bool(peer, false,
            "step bench: also run the W2 step in PyTorch (bench/peers/w2_step_torch.py), "
            "alternating with ours, and print the ratio");
DEFINE_string(peer_python, "python3", "step bench: the Python interpreter with torch for --peer");
DEFINE_string(peer_script, IAK_SOURCE_DIR "/bench/peers/w2_step_torch.py",
              "step bench: the PyTorch peer script for --peer");
DEFINE_bool(step_bf16, false,
            "step bench: run the frozen bottom in bf16 (JobSpec.frozen_precision = \"bf16\")");
DEFINE_bool(step_gpu, false,
            "step bench: train on GPU 0 through the Trainer's CUDA engine "
            "(JobSpec.launcher.gpus_per_worker = 1; a CUDA build on a machine with a GPU)");
DEFINE_int32(peer_cached_repeats, 3, "step bench: repeats of the epochs-2+ (cached) comparison");

namespace iak::bench {
namespace {

constexpr int kFields = bench::kW2Fields;
constexpr int kDim = bench::kW2Dim;
constexpr int kBatch = 1024;
constexpr float kBeta = 0.01f;

using Clock = std::chrono::steady_clock;

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

// The job the Trainer trains: the bench's data as one domain whose training
// split is every sample, and the W2 base model.
std::unique_ptr<worker::TrainingInputs> MakeInputs(const data::Dataset& data,
                                                   const model::BaseModel& base) {
  auto inputs = std::make_unique<worker::TrainingInputs>();
  inputs->job.dataset = data;
  data::DomainSplit split;
  split.train.resize(data.size());
  for (size_t i = 0; i < data.size(); ++i) split.train[i] = static_cast<uint32_t>(i);
  inputs->job.splits.push_back(std::move(split));
  inputs->job.finetune_domains = {0};
  inputs->job.source = "iak bench step (synthetic W2 data)";
  inputs->base = std::make_unique<model::BaseModel>(base);
  return inputs;
}

// W2's job: the IAK (encoder 64, latent 32, decoder 64) on h, Adam at 1e-3,
// beta 0.01, batch 1,024, `steps` steps of one compression phase; no
// validation, checkpoints or results, so what runs is the steps alone.
proto::JobSpec W2Spec(int64_t steps, bool prefix_cache, uint64_t seed) {
  proto::JobSpec spec;
  spec.set_name("bench-step");
  spec.set_method("iak");
  spec.set_seed(seed);
  spec.set_batch_size(kBatch);
  const model::IakConfig iak = bench::W2IakConfig();
  spec.mutable_iak()->set_latent_dim(iak.latent_dim);
  for (int h : iak.encoder_hidden) spec.mutable_iak()->add_encoder_hidden(h);
  for (int h : iak.decoder_hidden) spec.mutable_iak()->add_decoder_hidden(h);
  proto::PhaseCommand* phase = spec.add_phases();
  phase->set_phase(proto::PHASE_COMPRESSION);
  phase->set_steps(steps);
  phase->set_beta(kBeta);
  phase->set_learning_rate(model::AdamOptions().lr);
  spec.mutable_validation()->set_disabled(true);
  spec.mutable_checkpoint()->set_every_n_steps(-1);
  spec.mutable_frozen_prefix_cache()->set_mode(prefix_cache ? proto::FrozenPrefixCacheSpec::MODE_ON
                                                            : proto::FrozenPrefixCacheSpec::MODE_OFF);
  spec.mutable_frozen_prefix_cache()->set_spill_dir("-");
  spec.mutable_timeouts()->set_collective_timeout_ms(60000);
  if (FLAGS_step_bf16) spec.set_frozen_precision("bf16");
  if (FLAGS_step_gpu) spec.mutable_launcher()->set_gpus_per_worker(1);
  job::ApplyDefaults(&spec);
  return spec;
}

// Trains `epochs` epochs of the bench's data through worker::Trainer, as
// users' jobs do; returns each epoch's seconds (epoch 1 from the start of
// Run, so it includes the trainer's set-up and the pipeline's fill). `rows`
// lives across runs, as the job's data and table do: with a local table the
// first run resolves the keys to rows (ResolvedRows) and later runs reuse it.
// A failed run (no usable GPU for --step_gpu, say) is returned, not fatal.
StatusOr<std::vector<double>> RunTrainer(const worker::TrainingInputs& inputs,
                                         worker::RowAccess* rows, int epochs,
                                         bool prefix_cache, int threads, uint64_t seed) {
  const int per_epoch = static_cast<int>(inputs.job.dataset.size() / kBatch);
  const proto::JobSpec spec = W2Spec(static_cast<int64_t>(epochs) * per_epoch, prefix_cache, seed);
  worker::TrainerOptions options;
  options.spec = spec;
  options.name = "bench-step";
  options.compute_threads = threads;
  options.progress_every = 0;
  options.write_results = false;
  options.write_checkpoints = false;
  std::vector<Clock::time_point> epoch_ends;
  int64_t steps = 0;
  options.on_step_done = [&](const worker::StepRecord&) {
    if (++steps % per_epoch == 0) epoch_ends.push_back(Clock::now());
  };
  worker::LocalMembership membership(&spec);
  worker::Trainer trainer(std::move(options), &inputs, &membership, rows);
  const std::atomic<bool> never(false);
  const auto start = Clock::now();
  IAK_RETURN_IF_ERROR(trainer.Run(never));
  CHECK_EQ(static_cast<int>(epoch_ends.size()), epochs);
  std::vector<double> seconds;
  for (int e = 0; e < epochs; ++e) {
    seconds.push_back(std::chrono::duration<double>(epoch_ends[e] - (e == 0 ? start : epoch_ends[e - 1])).count());
  }
  return seconds;
}

const char* DeviceName() { return FLAGS_step_gpu ? "gpu" : "cpu"; }

double LoadAverage() {
  double load[1] = {0.0};
  return getloadavg(load, 1) == 1 ? load[0] : 0.0;
}

// Where the time of one step goes: the pieces the Trainer's step runs (the
// pipeline's pooling, by `resolved` rows with a local table or dedup, fetch
// and pool from a PS, and noise, then ParallelFineTuneStep and Adam) one
// after the other on one thread (1 BLAS thread), each timed.
void Profile(const data::Dataset& data, const model::BaseModel& base, worker::RowSource* source,
             worker::ResolvedRows* resolved, int batches) {
  model::IakModule iak(bench::W2IakConfig());
  iak.Init(1);
  model::Adam adam(iak.num_params(), model::AdamOptions());
  model::ParallelFineTuneStep step(1);
  worker::PulledRows rows(kDim);
  model::Mt19937_64 rng(1);
  const int k = bench::W2IakConfig().latent_dim;
  std::vector<uint32_t> ids(kBatch);
  std::vector<float> x(static_cast<size_t>(kBatch) * kFields * kDim), click(kBatch), conv(kBatch),
      eps(static_cast<size_t>(kBatch) * k), h(static_cast<size_t>(kBatch) * 128),
      h_out(h.size());
  model::IakWorkspace ws;
  const char* names[] = {"dedup keys", "fetch rows",
                         resolved != nullptr ? "pool (rows resolved once)" : "pool (gather)",
                         "draw noise", "frozen bottom", "IAK+towers+loss+backward",
                         "  of which IAK forward", "Adam"};
  double t[8] = {0}, cpu[8] = {0};  // wall and this thread's CPU seconds
  const size_t n = data.size();
  Clock::time_point wall[9];
  double thread_cpu[9];
  auto mark = [&](int i) {
    wall[i] = Clock::now();
    thread_cpu[i] = ThreadCpuSeconds();
  };
  for (int b = 0; b < batches; ++b) {
    for (int i = 0; i < kBatch; ++i) {
      ids[i] = static_cast<uint32_t>((static_cast<size_t>(b) * kBatch + i) % n);
      click[i] = data.click[ids[i]];
      conv[i] = data.conversion[ids[i]];
    }
    // What the pipeline does: with a local table, pool by the rows
    // resolved once; from a PS, dedup, pull and pool.
    mark(0);
    if (resolved == nullptr) rows.CollectKeys(data, ids.data(), kBatch);
    mark(1);
    if (resolved == nullptr) {
      CHECK(source->Fetch(rows.keys().data(), rows.keys().size(), rows.rows()).ok());
    }
    mark(2);
    if (resolved == nullptr) {
      rows.Pool(data, ids.data(), kBatch, x.data());
    } else {
      CHECK(resolved->Pool(ids.data(), kBatch, x.data()).ok());
    }
    mark(3);
    model::IakModule::DrawEps(kBatch, k, &rng, eps.data());
    mark(4);
    step.ForwardBottom(base, x.data(), kBatch, h.data());
    mark(5);
    step.RunOnH(base, &iak, model::IakPhase::kCompression, kBeta, h.data(), kBatch, click.data(),
                conv.data(), eps.data());
    mark(6);
    iak.TrainForward(h.data(), kBatch, eps.data(), h_out.data(), &ws);
    mark(7);
    adam.Step(iak.mutable_params(), iak.grads().data());
    mark(8);
    for (int i = 0; i < 8; ++i) {
      t[i] += std::chrono::duration<double>(wall[i + 1] - wall[i]).count();
      cpu[i] += thread_cpu[i + 1] - thread_cpu[i];
    }
  }
  double total = 0;
  for (int i = 0; i < 8; ++i) total += i == 6 ? 0 : cpu[i];
  std::printf("profile (one thread, %d batches of %d; ms per batch, wall and this thread's CPU "
              "time; %% of CPU):\n", batches, kBatch);
  for (int i = 0; i < 8; ++i) {
    std::printf("  %-26s %7.3f ms  CPU %7.3f ms  %5.1f%%\n", names[i], t[i] * 1e3 / batches,
                cpu[i] * 1e3 / batches, 100.0 * cpu[i] / total);
  }
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
  contents.options.embedding_dim = kDim;
  contents.options.num_shards = 1;
  contents.table = &table;
  contents.options.dense_blob = base.Serialize();
  contents.options.base_manifest.set_num_tasks(2);
  for (int w : base.config().bottom_hidden) contents.options.base_manifest.add_bottom_hidden(w);
  for (int w : base.config().tower_hidden) contents.options.base_manifest.add_tower_hidden(w);
  contents.options.base_manifest.set_data_description("W2 step benchmark: random rows");
  const auto write_start = Clock::now();
  IAK_RETURN_IF_ERROR(embedding::WriteModelDirectory(ps->dir + "/model", contents));
  std::printf("wrote the W2 model directory (%zu rows) in %.1f s\n", table.size(), SecondsSince(write_start));
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

// The PyTorch peer, or null (with the reason printed) when it cannot run.
std::unique_ptr<PeerProcess> StartPeer(int batches, int threads) {
  if (!FLAGS_peer) return nullptr;
  const std::vector<std::string> argv = {
      FLAGS_peer_python, FLAGS_peer_script, "--serve",
      "--batches=" + std::to_string(batches), "--threads=" + std::to_string(threads),
      "--rows_per_field=" + std::to_string(FLAGS_step_rows_per_field)};
  const std::string log = (std::filesystem::temp_directory_path() / "iak-step-peer.log").string();
  StatusOr<std::unique_ptr<PeerProcess>> peer = PeerProcess::Start(argv, log, Duration(600000));
  if (!peer.ok()) {
    std::printf("PyTorch peer skipped: %s\n", peer.status().ToString().c_str());
    return nullptr;
  }
  std::printf("PyTorch peer: %s\n", (*peer)->ready_line().c_str());
  return std::move(*peer);
}

// One repeat of the peer; samples/s and CPU us per sample, or NaN.
struct PeerRepeat {
  double samples_per_s = std::nan("");
  double cpu_us = std::nan("");
};
PeerRepeat AskPeer(PeerProcess* peer, const char* variant) {
  PeerRepeat r;
  StatusOr<std::string> line = peer->Ask(variant, Duration(600000));
  CHECK(line.ok()) << "the PyTorch peer failed: " << line.status();
  StatusOr<JsonValue> json = ParseJson(*line);
  CHECK(json.ok() && json->Has("samples_per_s")) << "the PyTorch peer answered: " << *line;
  r.samples_per_s = (*json)["samples_per_s"].Number();
  r.cpu_us = (*json)["cpu_us_per_sample"].Number();
  return r;
}

double MedianOrNan(const std::vector<double>& v) { return v.empty() ? std::nan("") : Median(v); }

// A JSON number, or null for NaN.
std::string JsonNumberOrNull(double v, const char* format) {
  if (std::isnan(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

}  // namespace

// Epochs 2+ with the frozen-prefix cache, per repeat: ours, the peer's
// cached variant and their ratio (the peer's empty without a peer).
struct CachedRepeats {
  std::vector<double> ours, theirs, ratios;
};

// 3 epochs per repeat (epoch 1 fills the cache), alternating with the peer's
// cached variant (h computed once under no_grad) when there is a peer.
CachedRepeats RunCachedEpochs(const worker::TrainingInputs& inputs, worker::RowAccess* rows,
                              int threads, size_t num_samples, PeerProcess* peer) {
  constexpr int kEpochs = 3;
  CachedRepeats out;
  const int repeats = std::max(1, peer != nullptr ? FLAGS_peer_cached_repeats : 1);
  for (int r = 0; r < repeats; ++r) {
    // The warm-up run (RunStepBench) already trained with this set-up.
    StatusOr<std::vector<double>> trained =
        RunTrainer(inputs, rows, kEpochs, true, threads, 30 + r);
    CHECK(trained.ok()) << trained.status();
    const std::vector<double>& epochs = *trained;
    std::printf("  epoch seconds (%zu samples) with the frozen-prefix cache:", num_samples);
    for (double e : epochs) std::printf(" %.3f", e);
    const double later = Median(std::vector<double>(epochs.begin() + 1, epochs.end()));
    out.ours.push_back(num_samples / later);
    std::printf(" -> epochs 2+ %.0f samples/s", out.ours.back());
    if (peer != nullptr) {
      const PeerRepeat p = AskPeer(peer, "cached");
      out.theirs.push_back(p.samples_per_s);
      out.ratios.push_back(out.ours.back() / p.samples_per_s);
      std::printf("; PyTorch cached %.0f samples/s; ratio %.2fx", p.samples_per_s,
                  out.ratios.back());
    }
    std::printf("\n");
  }
  return out;
}

// False, after saying why on stderr, for flags the bench cannot run with.
bool StepFlagsValid() {
  if (FLAGS_source != "local" && FLAGS_source != "ps") {
    std::fprintf(stderr, "iak bench step: --source must be local or ps, got '%s'\n", FLAGS_source.c_str());
    return false;
  }
  if (FLAGS_step_threads > kMaxBenchThreads ||
      static_cast<int64_t>(FLAGS_step_batches) * kBatch > kMaxBenchSamples) {
    std::fprintf(stderr,
                 "iak bench step: --step_threads must be at most %d and --step_batches at most "
                 "%lld (batches of %d samples), got %d and %d\n",
                 kMaxBenchThreads, static_cast<long long>(kMaxBenchSamples / kBatch), kBatch,
                 FLAGS_step_threads, FLAGS_step_batches);
    return false;
  }
  if (FLAGS_step_pinned_rows_mb < -1 || FLAGS_step_pinned_rows_mb > job::kMaxPinnedRowsMb) {
    std::fprintf(stderr, "iak bench step: --step_pinned_rows_mb must be -1 (off), 0 (the default) "
                 "or up to %lld, got %lld\n", static_cast<long long>(job::kMaxPinnedRowsMb),
                 static_cast<long long>(FLAGS_step_pinned_rows_mb));
    return false;
  }
  return true;
}

struct UncachedRepeats {
  std::vector<double> ours, cpu_us, theirs, their_cpu_us, ratios;
};

// --step_repeats epochs with the cache off, each alternating with the peer's
// repeat when there is a peer; CPU time counts the PS child's too.
UncachedRepeats RunUncachedEpochs(const worker::TrainingInputs& inputs, worker::RowAccess* rows,
                                  int threads, size_t num_samples, pid_t ps_pid,
                                  PeerProcess* peer) {
  UncachedRepeats out;
  for (int r = 0; r < FLAGS_step_repeats; ++r) {
    const double cpu0 = ProcessCpuSeconds() + (ps_pid ? ChildCpuSeconds(ps_pid) : 0.0);
    StatusOr<std::vector<double>> run = RunTrainer(inputs, rows, 1, false, threads, 20 + r);
    CHECK(run.ok()) << run.status();  // the warm-up epoch trained with this set-up
    const double seconds = (*run)[0];
    const double cpu = ProcessCpuSeconds() + (ps_pid ? ChildCpuSeconds(ps_pid) : 0.0) - cpu0;
    out.ours.push_back(static_cast<double>(num_samples) / seconds);
    out.cpu_us.push_back(cpu * 1e6 / num_samples);
    std::printf("  repeat %d: %.0f samples/s, %.2f CPU us/sample", r, out.ours.back(),
                out.cpu_us.back());
    if (peer != nullptr) {
      const PeerRepeat p = AskPeer(peer, "step");
      out.theirs.push_back(p.samples_per_s);
      out.their_cpu_us.push_back(p.cpu_us);
      out.ratios.push_back(out.ours.back() / p.samples_per_s);
      std::printf("; PyTorch %.0f samples/s, %.2f CPU us/sample; ratio %.2fx", p.samples_per_s,
                  p.cpu_us, out.ratios.back());
    }
    std::printf("\n");
  }
  return out;
}

int RunStepBench(int, char**) {
  if (!StepFlagsValid()) return 2;
  const int batches = std::max(1, FLAGS_step_batches);
  const int threads = std::max(1, FLAGS_step_threads);
  const size_t num_samples = static_cast<size_t>(batches) * kBatch;
  std::printf("W2 step: %d fields x dim %d, bottom 416-256-128, IAK 128-64-(2x32) / 32-64-128, "
              "ESMM towers 128-64-1, batch %d, %d rows/field, source=%s, GEMM library %s, frozen "
              "bottom %s, device %s\n",
              kFields, kDim, kBatch, FLAGS_step_rows_per_field, FLAGS_source.c_str(),
              model::GemmLibraryName(), FLAGS_step_bf16 ? "bf16" : "fp32", DeviceName());
  // The peer starts first: its start-up (import, data, warm-up) overlaps
  // ours and is not timed.
  std::unique_ptr<PeerProcess> peer = StartPeer(batches, threads);
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
  const std::unique_ptr<worker::TrainingInputs> inputs = MakeInputs(data, base);

  // The step: one epoch per repeat through the Trainer, the cache off,
  // alternating with the peer's repeat when there is one. The warm-up epoch
  // also resolves the keys to rows with --source=local (the peer gets its
  // keys as row indices from the start), and with --source=ps pulls each
  // key once into the rows the worker keeps, as a job's workers do
  // (pinned_rows_mb; -1: every batch pulls).
  proto::JobSpec pinning;  // what a job with this pinned_rows_mb keeps
  pinning.set_pinned_rows_mb(FLAGS_step_pinned_rows_mb);
  worker::SourceRowAccess rows(source.get(), inputs->job.dataset, kDim,
                               job::PinnedRowsBudgetBytes(pinning));
  StatusOr<std::vector<double>> warm_up_run = RunTrainer(*inputs, &rows, 1, false, threads, 19);
  if (!warm_up_run.ok()) {
    std::fprintf(stderr, "iak bench step: the warm-up epoch failed: %s%s\n",
                 warm_up_run.status().ToString().c_str(),
                 FLAGS_step_gpu ? " (--step_gpu needs a CUDA build and a usable GPU; drop it to "
                                  "time the CPU step)"
                                : "");
    return 1;
  }
  const double warm_up = (*warm_up_run)[0];
  std::printf("warm-up epoch: %.3f s%s\n", warm_up,
              FLAGS_source == "local" ? " (resolves the keys to rows, once)" : "");
  const pid_t ps_pid = ps.child ? ps.child->pid() : 0;
  const UncachedRepeats u =
      RunUncachedEpochs(*inputs, &rows, threads, num_samples, ps_pid, peer.get());
  const std::vector<double>& ours = u.ours;
  const std::vector<double>& cpu_us = u.cpu_us;
  const std::vector<double>& theirs = u.theirs;
  const std::vector<double>& their_cpu_us = u.their_cpu_us;
  const std::vector<double>& ratios = u.ratios;
  std::printf("step (worker::Trainer, %d compute threads): %.0f samples/s (median of %d)\n",
              threads, Median(ours), FLAGS_step_repeats);
  // The machines here are shared: CPU time per sample says what 2 dedicated
  // cores would give, whatever the other tenants do to the wall clock.
  std::printf("CPU per sample (worker%s): %.2f us -> %.0f samples/s on 2 dedicated cores; "
              "load average now %.2f\n",
              ps_pid ? " + PS" : "", Median(cpu_us), 2e6 / Median(cpu_us), LoadAverage());
  if (peer != nullptr) {
    std::printf("PyTorch: %.0f samples/s, %.2f CPU us/sample; ours/PyTorch: %.2fx (median of "
                "per-repeat ratios)\n",
                Median(theirs), Median(their_cpu_us), Median(ratios));
  }

  // The profile times the CPU step's pieces; a GPU run has other pieces.
  if (!FLAGS_step_gpu) {
    Profile(inputs->job.dataset, base, source.get(),
            rows.ResolvedFrozen(&inputs->job.dataset, kDim), std::min(batches, 16));
  }

  const CachedRepeats c = RunCachedEpochs(*inputs, &rows, threads, num_samples, peer.get());
  const std::vector<double>& cached = c.ours;
  const std::vector<double>& their_cached = c.theirs;
  const std::vector<double>& cached_ratios = c.ratios;
  std::printf("epochs 2+: %.0f samples/s with the cache vs %.0f without (%.1fx)\n", Median(cached),
              Median(ours), Median(cached) / Median(ours));
  if (peer != nullptr) {
    std::printf("epochs 2+: PyTorch cached %.0f samples/s; ours/PyTorch: %.2fx\n",
                Median(their_cached), Median(cached_ratios));
  }
  std::printf("{\"benchmark\":\"step\",\"source\":\"%s\",\"path\":\"worker::Trainer\",\"device\":\"%s\","
              "\"gemm\":\"%s\",\"frozen_precision\":\"%s\",\"samples_per_s\":%.0f,\"threads\":%d,"
              "\"cached_epoch_samples_per_s\":%.0f,\"cpu_us_per_sample\":%.2f,"
              "\"samples_per_s_2_dedicated_cores\":%.0f,\"peer\":\"%s\","
              "\"peer_samples_per_s\":%s,\"peer_cpu_us_per_sample\":%s,"
              "\"peer_cached_samples_per_s\":%s,\"ratio_vs_pytorch\":%s,"
              "\"cached_ratio_vs_pytorch\":%s,\"rows_kept_once_pulled\":%s}\n",
              FLAGS_source.c_str(), DeviceName(), model::GemmLibraryName(),
              FLAGS_step_bf16 ? "bf16" : "fp32",
              Median(ours), threads,
              Median(cached), Median(cpu_us), 2e6 / Median(cpu_us),
              peer != nullptr ? "pytorch" : "none",
              JsonNumberOrNull(MedianOrNan(theirs), "%.0f").c_str(),
              JsonNumberOrNull(MedianOrNan(their_cpu_us), "%.2f").c_str(),
              JsonNumberOrNull(MedianOrNan(their_cached), "%.0f").c_str(),
              JsonNumberOrNull(MedianOrNan(ratios), "%.3f").c_str(),
              JsonNumberOrNull(MedianOrNan(cached_ratios), "%.3f").c_str(),
              rows.frozen() != source.get() ? "true" : "false");
  return 0;
}

}  // namespace iak::bench
