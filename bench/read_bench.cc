// `iak bench read`: how fast the data pipeline feeds a worker, on the W2
// shape (26 single-valued categorical fields, click + conversion labels,
// values drawn from 100,000 per field). A seeded synthetic CSV file is
// written to a temporary folder, then read repeatedly
//   text:   ReadTextFiles with the schema (parse, hash, bucket), N threads;
//   binary: the same samples converted once to a shard set (compact format
//           version 2: decode blocks), read with ReadShardSet (checksums,
//           decode into a Dataset) - the path of every epoch after the first;
//   v1:     the same set in the old uncompressed format (mmap + memcpy),
//           for its size and speed.
// Prints medians over the repeats and one JSON line. The file is in the page
// cache, so the figures are parsing/decoding rates, not disk rates.
#include <gflags/gflags.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_limits.h"
#include "bench/bench_stats.h"
#include "data/schema.h"
#include "data/shard_set.h"
#include "data/shard_set_writer.h"
#include "data/text_reader.h"

DEFINE_int64(read_bench_samples, 200000, "read bench: samples in the synthetic file");
DEFINE_int32(read_bench_repeats, 5, "read bench: timed repeats per path (medians reported)");
DEFINE_int32(read_bench_threads, 2, "read bench: text parsing threads");
DEFINE_int32(read_bench_shards, 4, "read bench: shard files in the binary set");
DEFINE_uint64(read_bench_seed, 1, "read bench: seed of the synthetic data");

namespace iak::bench {
namespace {

constexpr int kFields = 26;
constexpr uint32_t kValuesPerField = 100000;

std::string WriteSyntheticCsv(const std::string& path, int64_t samples, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) return "cannot write " + path;
  std::string line = "click,conversion";
  for (int f = 1; f <= kFields; ++f) line += ",C" + std::to_string(f);
  std::fprintf(out, "%s\n", line.c_str());
  char cell[16];
  for (int64_t s = 0; s < samples; ++s) {
    const uint64_t r = rng();
    const bool click = (r & 7) == 0;                 // 12.5% clicks
    const bool conversion = click && (r & 0x38) == 0;  // 1/8 of clicks convert
    line.assign(click ? "1," : "0,");
    line.append(conversion ? "1" : "0");
    for (int f = 0; f < kFields; ++f) {
      // Criteo-like 8-hex-digit tokens; 100,000 distinct per field.
      const uint32_t value = static_cast<uint32_t>(rng() % kValuesPerField);
      std::snprintf(cell, sizeof(cell), ",%08x", value * 2654435761u);
      line.append(cell);
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), out);
  }
  std::fclose(out);
  return "";
}

proto::Schema W2Schema() {
  proto::Schema s;
  s.set_name("w2-synthetic");
  s.set_has_header(true);
  proto::ColumnSpec* c = s.add_columns();
  c->set_name("click");
  c->set_role(proto::COLUMN_CLICK);
  c = s.add_columns();
  c->set_name("conversion");
  c->set_role(proto::COLUMN_CONVERSION);
  c = s.add_columns();
  c->set_name("C");
  c->set_repeat(kFields);
  c->set_role(proto::COLUMN_CATEGORICAL);
  return s;
}

template <typename F>
double Seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Checked before any work: a shard count below 1 would fail the conversion
// only after the text pass, and no samples or repeats leave no rate.
bool ReadFlagsValid() {
  if (FLAGS_read_bench_samples < 1 || FLAGS_read_bench_repeats < 1 ||
      FLAGS_read_bench_shards < 1 || FLAGS_read_bench_threads < 1) {
    std::fprintf(stderr,
                 "iak bench read: --read_bench_samples, --read_bench_repeats, --read_bench_shards "
                 "and --read_bench_threads must be >= 1 (got %lld, %d, %d, %d)\n",
                 static_cast<long long>(FLAGS_read_bench_samples), FLAGS_read_bench_repeats,
                 FLAGS_read_bench_shards, FLAGS_read_bench_threads);
    return false;
  }
  if (FLAGS_read_bench_samples > kMaxBenchSamples ||
      FLAGS_read_bench_shards > data::kMaxShardSetShards ||
      FLAGS_read_bench_threads > kMaxBenchThreads) {
    std::fprintf(stderr,
                 "iak bench read: --read_bench_samples must be at most %lld, --read_bench_shards "
                 "at most %d and --read_bench_threads at most %d\n",
                 static_cast<long long>(kMaxBenchSamples), data::kMaxShardSetShards,
                 kMaxBenchThreads);
    return false;
  }
  return true;
}

}  // namespace

int RunReadBench(int /*argc*/, char** /*argv*/) {
  if (!ReadFlagsValid()) return 2;
  std::string templ = std::filesystem::temp_directory_path().string() + "/iak_read_bench_XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    std::cerr << "read bench: cannot create a temporary folder\n";
    return 1;
  }
  const std::string dir = templ;
  const std::string csv = dir + "/w2.csv";
  const int64_t n = FLAGS_read_bench_samples;
  if (const std::string err = WriteSyntheticCsv(csv, n, FLAGS_read_bench_seed); !err.empty()) {
    std::cerr << "read bench: " << err << "\n";
    return 1;
  }
  StatusOr<data::CompiledSchema> schema = data::CompileSchema(W2Schema());
  CHECK(schema.ok()) << schema.status();
  data::TextReadOptions options;
  options.num_threads = FLAGS_read_bench_threads;

  std::vector<double> text_rates;
  data::Dataset dataset;
  for (int r = 0; r < FLAGS_read_bench_repeats; ++r) {
    StatusOr<data::Dataset> d = data::Dataset();
    const double s = Seconds([&] { d = data::ReadTextFiles(*schema, {csv}, options, nullptr); });
    if (!d.ok()) {
      std::cerr << "read bench: " << d.status() << "\n";
      return 1;
    }
    text_rates.push_back(static_cast<double>(d->size()) / s);
    dataset = std::move(*d);
  }
  data::ShardSetWriteOptions write;
  write.dir = dir + "/shards";
  write.num_shards = FLAGS_read_bench_shards;
  Status written;
  const double convert_s = Seconds(
      [&] { written = data::WriteShardSet(dataset, schema->schema, {csv}, write).status(); });
  data::ShardSetWriteOptions write_v1 = write;
  write_v1.dir = dir + "/shards_v1";
  write_v1.file.version = 1;
  if (written.ok()) {
    written = data::WriteShardSet(dataset, schema->schema, {csv}, write_v1).status();
  }
  if (!written.ok()) {
    std::cerr << "iak bench read: converting to shards in " << dir << ": " << written << "\n";
    return 1;
  }
  std::vector<double> binary_rates, unverified_rates, v1_rates;
  for (int r = 0; r < FLAGS_read_bench_repeats; ++r) {
    for (int path = 0; path < 3; ++path) {
      StatusOr<data::Dataset> d = data::Dataset();
      const double s = Seconds([&] {
        d = data::ReadShardSet(path == 2 ? write_v1.dir : write.dir, 0, 1, path != 1);
      });
      CHECK(d.ok()) << d.status();
      CHECK_EQ(d->size(), dataset.size());
      (path == 0 ? binary_rates : path == 1 ? unverified_rates : v1_rates)
          .push_back(static_cast<double>(d->size()) / s);
    }
  }
  const auto text_bytes = std::filesystem::file_size(csv);
  auto set_bytes = [](const std::string& set) {
    uint64_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(set)) {
      if (e.path().extension() == ".iaks") bytes += e.file_size();
    }
    return bytes;
  };
  const uint64_t shard_bytes = set_bytes(write.dir);
  const uint64_t v1_bytes = set_bytes(write_v1.dir);
  std::filesystem::remove_all(dir);

  const double text = Median(text_rates);
  const double binary = Median(binary_rates);
  const double unverified = Median(unverified_rates);
  const double v1 = Median(v1_rates);
  constexpr double kW2Bar = 100000.0;  // samples/s the W2 step must reach (BENCHMARKS.md)
  std::printf("read bench: W2 shape, %lld samples x %d categorical fields, click + conversion, "
              "%d repeats (medians)\n",
              static_cast<long long>(n), kFields, FLAGS_read_bench_repeats);
  std::printf("  text   (CSV, %d threads)        %12.0f samples/s  (%.1f MB/s, %.0f bytes/sample)\n",
              FLAGS_read_bench_threads, text, text * text_bytes / n / 1e6,
              static_cast<double>(text_bytes) / n);
  std::printf("  binary (%d shards, verified)    %12.0f samples/s  (%.0f bytes/sample)\n",
              FLAGS_read_bench_shards, binary, static_cast<double>(shard_bytes) / n);
  std::printf("  binary (no checksum pass)       %12.0f samples/s\n", unverified);
  std::printf("  binary v1 (uncompressed, verified) %9.0f samples/s  (%.0f bytes/sample)\n", v1,
              static_cast<double>(v1_bytes) / n);
  std::printf("  convert (write shards)          %12.0f samples/s\n", n / convert_s);
  std::printf("  binary / W2 step bar (100,000 samples/s): %.1fx; text: %.1fx\n", binary / kW2Bar,
              text / kW2Bar);
  std::printf("{\"bench\":\"read\",\"samples\":%lld,\"fields\":%d,\"threads\":%d,"
              "\"text_samples_per_s\":%.0f,\"binary_samples_per_s\":%.0f,"
              "\"binary_unverified_samples_per_s\":%.0f,\"convert_samples_per_s\":%.0f,"
              "\"text_bytes_per_sample\":%.1f,\"shard_bytes_per_sample\":%.1f,"
              "\"v1_samples_per_s\":%.0f,\"v1_bytes_per_sample\":%.1f}\n",
              static_cast<long long>(n), kFields, FLAGS_read_bench_threads, text, binary,
              unverified, n / convert_s, static_cast<double>(text_bytes) / n,
              static_cast<double>(shard_bytes) / n, v1, static_cast<double>(v1_bytes) / n);
  return 0;
}

}  // namespace iak::bench
