// `iak bench scale`: the whole path at a chosen size on this machine, with
// the memory of every process. It synthesises N samples (`iak data synth`'s
// generator, streamed to CSV), converts them to a domain-ordered compact
// shard set, pre-trains a small base on a separate small synthetic file,
// imports a snapshot of R rows (every user, item and category key of the
// synthetic key space; the base's row where it has one) with int8 or fp16
// rows, then runs a streamed fine-tuning job (data.stream) with 2 parameter
// servers and 2 workers through the local launcher for a fixed number of
// steps. While the job runs, a monitor reads VmHWM (peak resident memory)
// from /proc/<pid>/status of every process whose command line names this
// run. Prints one JSON line: samples, rows, shard bytes per sample, convert
// samples/s, job samples/s and pull keys/s (over the job's wall time,
// start-up included), each worker's and server's peak RSS, disk used.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/child_process.h"
#include "cluster/local_launcher.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/keys.h"
#include "common/process_memory.h"
#include "data/schema.h"
#include "data/shard_set.h"
#include "data/shard_set_convert.h"
#include "data/synth.h"
#include "data/text_reader.h"
#include "embedding/model_directory.h"
#include "embedding/row_codec.h"
#include "embedding/snapshot_import.h"
#include "job/job_spec.h"
#include "worker/pretrain_job.h"

DEFINE_int64(scale_samples, 1000000, "scale bench: samples to synthesise and convert");
DEFINE_int64(scale_rows, 1000000, "scale bench: embedding rows of the snapshot (its key space)");
DEFINE_string(scale_dtype, "int8", "scale bench: row dtype of the snapshot (int8, fp16, float32)");
DEFINE_int32(scale_steps, 600, "scale bench: fine-tuning steps of the job");
DEFINE_int32(scale_batch, 256, "scale bench: per-worker batch");
DEFINE_int32(scale_domains, 4, "scale bench: domains of the synthetic data");
DEFINE_int32(scale_stream_cache_mb, 64, "scale bench: each worker's decoded-block cache");
DEFINE_int32(scale_pretrain_samples, 200000, "scale bench: samples of the base's pre-training");
DEFINE_string(scale_dir, "",
              "scale bench: working folder (default: a temporary one, removed); a folder a "
              "previous run prepared (prepared.txt) is reused: only the job runs again");

namespace iak::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Past it the import alone runs for hours and needs more than this machine
// kind's memory; the bench measures scale well below it.
constexpr int64_t kMaxScaleRows = int64_t{1} << 31;

// Peak RSS (VmHWM, kB) of every live process whose command line holds
// `marker`, by role ("worker", "ps", "scheduler"), polled until `done`.
class PeakRssMonitor {
 public:
  explicit PeakRssMonitor(std::string marker) : marker_(std::move(marker)) {
    thread_ = std::thread([this] {
      while (!done_.load()) {
        Poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~PeakRssMonitor() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      done_ = true;
      thread_.join();
    }
  }
  // role -> (pid -> peak kB)
  const std::map<std::string, std::map<int, uint64_t>>& peaks() const { return peaks_; }

 private:
  void Poll() {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream cmd(e.path() / "cmdline");
      std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
      if (line.find(marker_) == std::string::npos) continue;
      // argv[0] the iak binary, argv[1] its command (not mpirun's line).
      const size_t end0 = line.find('\0');
      if (end0 == std::string::npos) continue;
      const std::string program = std::filesystem::path(line.substr(0, end0)).filename();
      const std::string command = line.substr(end0 + 1, line.find('\0', end0 + 1) - end0 - 1);
      if (program != "iak" || (command != "worker" && command != "ps")) continue;
      const std::string role = command;
      // A process that ended since the listing has no figure: skipped.
      StatusOr<uint64_t> peak_bytes = PeakResidentBytes(static_cast<pid_t>(std::stoi(name)));
      if (!peak_bytes.ok()) continue;
      uint64_t& peak = peaks_[role][std::stoi(name)];
      peak = std::max(peak, *peak_bytes / 1024);
    }
  }
  std::string marker_;
  std::atomic<bool> done_{false};
  std::map<std::string, std::map<int, uint64_t>> peaks_;
  std::thread thread_;
};

void WriteNpyHeader(std::FILE* out, const std::string& descr, const std::string& shape) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape +
                       ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const char magic[] = "\x93NUMPY\x01\x00";
  std::fwrite(magic, 1, 8, out);
  const uint16_t len = static_cast<uint16_t>(header.size());
  std::fwrite(&len, 2, 1, out);
  std::fwrite(header.data(), 1, header.size(), out);
}

// Writes keys.npy and rows.npy: every key of the synthetic key space (users
// u0.., items i0.., categories c0..; fields 0, 1, 2 of synth.schema), with
// the base's row where it has one and a small deterministic row otherwise.
StatusOr<uint64_t> WriteTable(const std::string& dir, const data::SynthOptions& synth,
                              const embedding::LocalEmbeddingTable& base, int dim) {
  const int64_t users = std::max<int64_t>(1, synth.keys / 2);
  const int64_t items = std::max<int64_t>(1, synth.keys - users);
  const uint64_t rows = static_cast<uint64_t>(users + items + synth.categories);
  std::FILE* keys = std::fopen((dir + "/keys.npy").c_str(), "wb");
  std::FILE* values = std::fopen((dir + "/rows.npy").c_str(), "wb");
  if (keys == nullptr || values == nullptr) return IoError("cannot write the table in " + dir);
  WriteNpyHeader(keys, "<u8", "(" + std::to_string(rows) + ",)");
  WriteNpyHeader(values, "<f4", "(" + std::to_string(rows) + ", " + std::to_string(dim) + ")");
  std::vector<float> row(static_cast<size_t>(dim));
  auto put = [&](uint32_t field, const std::string& text) {
    const uint64_t key = FeatureKey(field, HashBytes(text));
    const float* known = base.Find(key);
    for (int j = 0; j < dim; ++j) {
      const auto noise = static_cast<int64_t>(Mix64(key + j) % 2001) - 1000;  // +-0.01
      row[static_cast<size_t>(j)] = known != nullptr ? known[j] : static_cast<float>(noise) * 1e-5f;
    }
    std::fwrite(&key, 8, 1, keys);
    std::fwrite(row.data(), sizeof(float), row.size(), values);
  };
  for (int64_t u = 0; u < users; ++u) put(0, "u" + std::to_string(u));
  for (int64_t i = 0; i < items; ++i) put(1, "i" + std::to_string(i));
  for (int c = 0; c < synth.categories; ++c) put(2, "c" + std::to_string(c));
  const bool ok = std::fclose(keys) == 0 && std::fclose(values) == 0;
  if (!ok) return IoError("writing the table in " + dir + " failed (disk full?)");
  return rows;
}

// Sums "N of M looked-up keys" (M) over the workers' log.
uint64_t KeysLookedUp(const std::string& log_dir) {
  uint64_t total = 0;
  const std::regex pattern("of ([0-9]+) looked-up keys");
  for (const auto& e : std::filesystem::directory_iterator(log_dir)) {
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, pattern)) total += std::stoull(m[1]);
    }
  }
  return total;
}

std::string PeaksJson(const std::map<int, uint64_t>& peaks) {
  std::string out = "[";
  for (const auto& [pid, kb] : peaks) {
    out += (out.size() > 1 ? "," : "") + std::to_string(kb / 1024);
  }
  return out + "]";
}

int Fail(const std::string& step, const Status& status) {
  std::cerr << "scale bench: " << step << ": " << status << "\n";
  return 1;
}

// Synthesises and converts the data, pre-trains a small base and imports
// the snapshot of R rows into `model_dir`.
Status Prepare(const std::string& dir, const data::CompiledSchema& schema,
               const std::string& schema_path, const data::SynthOptions& synth,
               const data::ShardSetWriteOptions& convert, const std::string& model_dir,
               double* convert_s, double* bytes_per_sample, uint64_t* rows) {
  auto t = Clock::now();
  StatusOr<data::SynthReport> made = data::WriteSynthData(synth);
  if (!made.ok()) return made.status().WithContext("synth");
  const double synth_s = SecondsSince(t);
  std::cerr << "scale bench: synthesised " << synth.samples << " samples in " << synth_s << " s\n";
  t = Clock::now();
  {
    // What `iak data convert` does: chunks, sorted runs, a k-way merge.
    data::ConvertOptions streamed;
    streamed.read.num_threads = 2;
    streamed.write = convert;
    StatusOr<proto::ShardSetManifest> written =
        data::ConvertTextToShardSet(schema, {synth.out}, streamed, nullptr);
    if (!written.ok()) return written.status().WithContext("convert");
  }
  *convert_s = SecondsSince(t);
  std::filesystem::remove(synth.out);
  *bytes_per_sample = static_cast<double>(DirectoryBytes(convert.dir)) / synth.samples;
  std::cerr << "scale bench: converted in " << *convert_s << " s, " << *bytes_per_sample
            << " bytes/sample\n";

  // A small base, and the snapshot of R rows.
  data::SynthOptions small = synth;
  small.out = dir + "/pretrain.csv";
  small.samples = std::min<int64_t>(FLAGS_scale_pretrain_samples, synth.samples);
  small.seed = synth.seed + 1;
  if (StatusOr<data::SynthReport> s = data::WriteSynthData(small); !s.ok()) {
    return s.status().WithContext("pretrain data");
  }
  worker::PretrainJobOptions pretrain;
  pretrain.data.set_schema_file(schema_path);
  pretrain.data.add_input_files(small.out);
  pretrain.data.set_pretrain_periods(synth.domains);
  pretrain.model_dir = dir + "/base";
  pretrain.overwrite = true;
  pretrain.train.epochs = 1;
  StatusOr<worker::PretrainJobResult> base = worker::RunPretrainJob(pretrain);
  if (!base.ok()) return base.status().WithContext("pretrain");
  StatusOr<embedding::ModelDirectory> base_dir = embedding::LoadModelDirectory(pretrain.model_dir);
  if (!base_dir.ok()) return base_dir.status().WithContext("pretrain");
  t = Clock::now();
  {
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(*base_dir);
    if (!table.ok()) return table.status().WithContext("table");
    StatusOr<uint64_t> written =
        WriteTable(dir, synth, **table, static_cast<int>(base_dir->manifest.embedding_dim()));
    if (!written.ok()) return written.status().WithContext("table");
    *rows = *written;
  }
  embedding::SnapshotImportOptions import;
  import.rows_path = dir + "/rows.npy";
  import.keys_path = dir + "/keys.npy";
  StatusOr<embedding::RowDtype> dtype = embedding::ParseRowDtype(FLAGS_scale_dtype);
  if (!dtype.ok()) return dtype.status().WithContext("--scale_dtype");
  import.dtype = *dtype;
  import.num_shards = 2;
  import.out_dir = model_dir;
  import.base_model_dir = pretrain.model_dir;
  import.overwrite = true;
  if (StatusOr<proto::ModelManifest> m = embedding::ImportSnapshot(import); !m.ok()) {
    return m.status().WithContext("snapshot import");
  }
  std::filesystem::remove(import.rows_path);
  std::filesystem::remove(import.keys_path);
  std::cerr << "scale bench: snapshot of " << *rows << " " << FLAGS_scale_dtype << " rows in "
            << SecondsSince(t) << " s\n";

  return Status::Ok();
}

}  // namespace

int RunScaleBench(int /*argc*/, char** /*argv*/) {
  // Each domain's users and items, besides the item categories: fewer rows
  // were once clamped to 2 keys without a word and measured nothing.
  const int64_t min_rows = data::SynthOptions().categories + 2;
  if (FLAGS_scale_rows < min_rows || FLAGS_scale_rows > kMaxScaleRows) {
    return Fail("flags", InvalidArgumentError("--scale_rows=" + std::to_string(FLAGS_scale_rows) +
                                              ": give " + std::to_string(min_rows) + " to " +
                                              std::to_string(kMaxScaleRows) + " rows"));
  }
  std::string dir = FLAGS_scale_dir;
  const bool temporary = dir.empty();
  if (temporary) {
    dir = std::filesystem::temp_directory_path().string() + "/iak_scale_XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) return Fail("setup", IoError("cannot create " + dir));
  }
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) {
    return Fail("setup", IoError("--scale_dir: cannot create " + dir + ": " + made.message() +
                                     "; name a folder (or leave it out for a temporary one)"));
  }
  dir = std::filesystem::absolute(dir).string();
  const std::string schema_path = std::string(IAK_SOURCE_DIR) + "/examples/synth.schema.pbtxt";
  StatusOr<data::CompiledSchema> schema = data::LoadSchema(schema_path);
  if (!schema.ok()) return Fail("schema", schema.status());

  data::SynthOptions synth;
  synth.out = dir + "/data.csv";
  synth.samples = FLAGS_scale_samples;
  synth.keys = std::max<int64_t>(2, FLAGS_scale_rows - synth.categories);
  synth.domains = FLAGS_scale_domains;
  data::ShardSetWriteOptions convert;
  convert.dir = dir + "/shards";
  convert.num_shards = static_cast<int>(std::max<int64_t>(2, synth.samples / 4000000));
  const std::string model_dir = dir + "/model";
  // What a run prepared (data, snapshot) and its figures, so the job can be
  // measured again without redoing an hour of conversion.
  const std::string prepared_path = dir + "/prepared.txt";
  double convert_s = 0, bytes_per_sample = 0;
  uint64_t rows = 0;
  std::ifstream prepared(prepared_path);
  int64_t prepared_samples = 0;
  std::string prepared_dtype;
  if (prepared >> prepared_samples >> rows >> prepared_dtype >> convert_s >> bytes_per_sample &&
      prepared_samples == synth.samples && prepared_dtype == FLAGS_scale_dtype) {
    std::cerr << "scale bench: reusing the data and snapshot prepared in " << dir << "\n";
  } else {
    Status made = Prepare(dir, *schema, schema_path, synth, convert, model_dir, &convert_s,
                          &bytes_per_sample, &rows);
    if (!made.ok()) return Fail("prepare", made);
    std::ofstream(prepared_path) << synth.samples << " " << rows << " " << FLAGS_scale_dtype << " "
                                 << convert_s << " " << bytes_per_sample << "\n";
  }

  // 3. The streamed job: 2 PS, 2 workers.
  proto::JobSpec spec;
  spec.set_name("scale");
  spec.set_model_dir(model_dir);
  spec.set_output_dir(dir + "/run");
  proto::DataSpec* data = spec.mutable_data();
  data->set_shard_manifest(convert.dir + "/manifest.pbtxt");
  data->set_stream(true);
  data->set_stream_cache_mb(FLAGS_scale_stream_cache_mb);
  data->set_train_fraction(0.99);
  data->set_validation_fraction(0.001);
  spec.mutable_validation()->set_disabled(true);
  spec.set_num_servers(2);
  spec.set_num_workers(2);
  spec.set_batch_size(FLAGS_scale_batch);
  proto::PhaseCommand* phase = spec.add_phases();
  phase->set_phase(proto::PHASE_COMPRESSION);
  phase->set_steps(FLAGS_scale_steps);
  phase->set_beta(0.001f);
  phase->set_learning_rate(0.002f);
  job::ApplyDefaults(&spec);
  if (Status valid = job::Validate(spec); !valid.ok()) return Fail("job spec", valid);
  std::filesystem::create_directories(spec.output_dir());
  const std::string job_path = dir + "/job.pbtxt";
  if (Status saved = job::SaveJobSpec(spec, job_path); !saved.ok()) return Fail("job spec", saved);
  cluster::LocalLaunchOptions launch;
  launch.iak_binary = cluster::SelfExecutablePath();
  launch.job_spec_path = job_path;
  launch.run_dir = dir + "/logs";
  launch.echo_progress = false;
  launch.worker_args = {"--progress_every=100"};
  std::atomic<bool> stop{false};
  PeakRssMonitor monitor(job_path);
  const auto t = Clock::now();
  Status ran = cluster::RunLocalJob(spec, launch, stop);
  const double job_s = SecondsSince(t);
  monitor.Stop();
  if (!ran.ok()) return Fail("job", ran);
  const double samples = 2.0 * FLAGS_scale_steps * FLAGS_scale_batch;
  const uint64_t keys = KeysLookedUp(launch.run_dir);
  const uint64_t disk = DirectoryBytes(dir);
  const auto& peaks = monitor.peaks();
  const auto role = [&](const char* r) {
    const auto it = peaks.find(r);
    return it == peaks.end() ? std::map<int, uint64_t>() : it->second;
  };
  std::printf("scale bench: %lld samples, %llu %s rows; convert %.0f samples/s; job %.1f s\n",
              static_cast<long long>(synth.samples), static_cast<unsigned long long>(rows),
              FLAGS_scale_dtype.c_str(), synth.samples / convert_s, job_s);
  std::printf("{\"bench\":\"scale\",\"samples\":%lld,\"rows\":%llu,\"dtype\":\"%s\","
              "\"bytes_per_sample\":%.1f,\"convert_samples_per_s\":%.0f,"
              "\"job_samples_per_s\":%.0f,\"pull_keys_per_s\":%.0f,\"job_steps\":%d,"
              "\"worker_peak_rss_mb\":%s,\"server_peak_rss_mb\":%s,\"disk_mb\":%.0f}\n",
              static_cast<long long>(synth.samples), static_cast<unsigned long long>(rows),
              FLAGS_scale_dtype.c_str(), bytes_per_sample, synth.samples / convert_s,
              samples / job_s, keys / job_s, FLAGS_scale_steps, PeaksJson(role("worker")).c_str(),
              PeaksJson(role("ps")).c_str(), disk / 1e6);
  if (temporary) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace iak::bench
