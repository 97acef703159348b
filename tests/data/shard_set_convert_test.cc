// The streamed convert (chunked text read, sorted runs, k-way merge) writes
// the same shard files and manifest as the in-memory WriteShardSet of
// ReadTextFiles, in the order a plain stable sort gives, and leaves no runs
// behind, also when it fails.
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "data/dataset_append.h"
#include "data/schema.h"
#include "data/shard_set.h"
#include "data/shard_set_writer.h"
#include "data/shard_set_convert.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

CompiledSchema Compile(const std::string& text) {
  proto::Schema s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  StatusOr<CompiledSchema> schema = CompileSchema(s);
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

// Domains named in a column, a multi-valued field, both labels, a time.
constexpr char kSchema[] = R"(
  has_header: true
  columns { name: "ts" role: COLUMN_TIMESTAMP }
  columns { name: "dom" role: COLUMN_DOMAIN }
  columns { name: "user" role: COLUMN_CATEGORICAL }
  columns { name: "tags" role: COLUMN_MULTI_CATEGORICAL separator: ";" }
  columns { name: "click" role: COLUMN_CLICK }
  columns { name: "conv" role: COLUMN_CONVERSION }
)";

// The same columns without the time: samples are timed by their position.
constexpr char kUntimedSchema[] = R"(
  has_header: true
  columns { name: "ts" role: COLUMN_IGNORED }
  columns { name: "dom" role: COLUMN_DOMAIN }
  columns { name: "user" role: COLUMN_CATEGORICAL }
  columns { name: "tags" role: COLUMN_MULTI_CATEGORICAL separator: ";" }
  columns { name: "click" role: COLUMN_CLICK }
  columns { name: "conv" role: COLUMN_CONVERSION }
)";

// `lines` data lines: timestamps from a handful of values, so many samples
// tie on time across chunks; domains in an order that makes later files
// bring new ones; `bad_at` (1-based data line, 0 = none) has a non-label.
std::string Lines(int lines, int seed, const std::vector<std::string>& domains, int bad_at) {
  std::string out = "ts,dom,user,tags,click,conv\n";
  for (int i = 1; i <= lines; ++i) {
    const int x = i * 7 + seed * 13;
    out += std::to_string(100 + (x * 3) % 5) + "," + domains[(x / 3) % domains.size()] + ",u" +
           std::to_string(x % 11) + "," + (x % 4 == 0 ? "" : "t" + std::to_string(x % 3)) +
           (x % 5 == 0 ? ";t9" : "") + "," + (i == bad_at ? "maybe" : std::to_string(x % 2)) +
           "," + std::to_string((x / 2) % 2) + "\n";
  }
  return out;
}

struct Inputs {
  std::string dir;
  std::vector<std::string> files;
};

// Two files: the second brings a new domain and (with `bad_at`) a bad line.
Inputs MakeInputs(int bad_at) {
  Inputs in;
  in.dir = testing::MakeTempDir();
  in.files.push_back(testing::WriteFile(in.dir + "/a.csv", Lines(40, 1, {"x", "y"}, 0)));
  in.files.push_back(
      testing::WriteFile(in.dir + "/b.csv", Lines(33, 2, {"z", "y", "x"}, bad_at)));
  return in;
}

TextReadOptions SkipBadLines() {
  TextReadOptions read;
  read.bad_lines = BadLinePolicy::kSkip;
  read.num_threads = 2;
  return read;
}

void ExpectSameSamples(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.click, b.click);
  EXPECT_EQ(a.conversion, b.conversion);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.domain_names, b.domain_names);
}

TEST(ShardSetConvertTest, ChunksConcatenateToTheWholeRead) {
  const Inputs in = MakeInputs(/*bad_at=*/17);
  for (const char* schema_text : {kSchema, kUntimedSchema}) {
    const CompiledSchema schema = Compile(schema_text);
    TextReadReport whole_report;
    StatusOr<Dataset> whole = ReadTextFiles(schema, in.files, SkipBadLines(), &whole_report);
    ASSERT_TRUE(whole.ok()) << whole.status();
    ASSERT_EQ(whole->size(), 72u);
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{72}, size_t{1000}}) {
      Dataset joined;
      joined.fields = schema.fields;
      size_t chunks = 0;
      const TextChunkSink sink = [&](Dataset c) {
        EXPECT_LE(c.size(), chunk);
        EXPECT_EQ(c.domain_names,
                  std::vector<std::string>(whole->domain_names.begin(),
                                           whole->domain_names.begin() +
                                               static_cast<long>(c.domain_names.size())));
        AppendSamples(c, std::vector<int32_t>(), &joined);
        ++chunks;
        return Status::Ok();
      };
      TextReadReport report;
      TextChunkLimits limits;
      limits.samples = chunk;
      ASSERT_TRUE(
          ReadTextFilesChunked(schema, in.files, SkipBadLines(), limits, sink, &report).ok());
      EXPECT_GE(chunks, (72 + chunk - 1) / chunk);
      if (chunk < 72) {
        EXPECT_GT(chunks, 1u);
      }
      joined.domain_names = report.domain_names;
      ExpectSameSamples(joined, *whole);
      EXPECT_EQ(report.ToString(), whole_report.ToString());
      // The bad line is named by its file and line (header = line 1).
      ASSERT_EQ(report.bad_line_examples.size(), 1u);
      EXPECT_EQ(report.bad_line_examples[0].rfind(in.dir + "/b.csv:18: ", 0), 0u)
          << report.bad_line_examples[0];
    }
  }
}

// Wide samples end a chunk before its sample count does: before the block
// that would take it past the byte bound (here each file is one block,
// parsed by one thread; with more threads, each thread's part of a block),
// or right after a block that alone is past it.
TEST(ShardSetConvertTest, ChunksEndAtTheByteBound) {
  const Inputs in = MakeInputs(/*bad_at=*/17);
  const CompiledSchema schema = Compile(kSchema);
  TextReadOptions read = SkipBadLines();
  read.num_threads = 1;
  StatusOr<Dataset> whole = ReadTextFiles(schema, in.files, read, nullptr);
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (size_t bound : {size_t{1}, ParsedBytes(*whole) / 4, ParsedBytes(*whole) * 2}) {
    SCOPED_TRACE("parsed_bytes " + std::to_string(bound));
    Dataset joined;
    joined.fields = schema.fields;
    std::vector<size_t> sizes;
    const TextChunkSink sink = [&](Dataset c) {
      sizes.push_back(c.size());
      AppendSamples(c, std::vector<int32_t>(), &joined);
      return Status::Ok();
    };
    TextChunkLimits limits;
    limits.samples = 1000;
    limits.parsed_bytes = bound;
    TextReadReport report;
    ASSERT_TRUE(ReadTextFilesChunked(schema, in.files, read, limits, sink, &report).ok());
    // a.csv's 40 samples, then b.csv's 32 (one bad line skipped); under a
    // bound above the whole read, one chunk.
    const std::vector<size_t> expected =
        bound < ParsedBytes(*whole) ? std::vector<size_t>{40, 32} : std::vector<size_t>{72};
    EXPECT_EQ(sizes, expected);
    joined.domain_names = report.domain_names;
    ExpectSameSamples(joined, *whole);
  }
}

std::vector<std::string> FilesOf(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The samples of `data` stably sorted by (domain, timestamp): the reference
// order of a domain-ordered set, computed without the library's sort.
Dataset StableSortedReference(const Dataset& data) {
  std::vector<uint64_t> ids(data.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](uint64_t a, uint64_t b) {
    return std::make_pair(data.domain[a], data.timestamp[a]) <
           std::make_pair(data.domain[b], data.timestamp[b]);
  });
  Dataset out;
  out.fields = data.fields;
  out.domain_names = data.domain_names;
  AppendSampleIds(data, ids.data(), ids.size(), &out);
  return out;
}

TEST(ShardSetConvertTest, StreamedSetIsByteIdenticalToTheInMemoryOne) {
  const Inputs in = MakeInputs(/*bad_at=*/17);
  const CompiledSchema schema = Compile(kSchema);
  StatusOr<Dataset> whole = ReadTextFiles(schema, in.files, SkipBadLines(), nullptr);
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (bool domain_ordered : {true, false}) {
    for (uint32_t version : {2u, 1u}) {
      SCOPED_TRACE(std::string(domain_ordered ? "domain-ordered" : "input order") + ", v" +
                   std::to_string(version));
      ShardSetWriteOptions write;
      write.num_shards = 3;
      write.domain_ordered = domain_ordered;
      write.file.version = version;
      write.file.block_samples = 4;
      write.dir = in.dir + "/memory";
      ASSERT_TRUE(WriteShardSet(*whole, schema.schema, in.files, write).ok());
      ConvertOptions convert;
      convert.read = SkipBadLines();
      convert.write = write;
      convert.write.dir = in.dir + "/streamed";
      convert.chunk.samples = 7;  // a dozen runs or more
      std::vector<std::string> progress;
      convert.progress = [&](const std::string& line) { progress.push_back(line); };
      TextReadReport report;
      StatusOr<proto::ShardSetManifest> manifest =
          ConvertTextToShardSet(schema, in.files, convert, &report);
      ASSERT_TRUE(manifest.ok()) << manifest.status();
      EXPECT_GE(progress.size(), 12u);  // a line per chunk, then the merge's
      EXPECT_EQ(report.bad_lines_skipped, 1);
      ASSERT_EQ(report.bad_line_examples.size(), 1u);
      EXPECT_EQ(report.bad_line_examples[0].rfind(in.dir + "/b.csv:18: column 5 ('click')", 0), 0u)
          << report.bad_line_examples[0];
      const std::vector<std::string> names = FilesOf(write.dir);
      ASSERT_EQ(names.size(), 4u);  // three shards and the manifest; no runs left
      EXPECT_EQ(FilesOf(convert.write.dir), names);
      for (const std::string& name : names) {
        EXPECT_EQ(testing::ReadFile(convert.write.dir + "/" + name),
                  testing::ReadFile(write.dir + "/" + name))
            << name;
      }
      StatusOr<Dataset> back = ReadShardSet(convert.write.dir);
      ASSERT_TRUE(back.ok()) << back.status();
      ExpectSameSamples(*back, domain_ordered ? StableSortedReference(*whole) : *whole);
      std::filesystem::remove_all(write.dir);
      std::filesystem::remove_all(convert.write.dir);
    }
  }
}

TEST(ShardSetConvertTest, ABadLineFailsNamingItAndLeavesNoRuns) {
  const Inputs in = MakeInputs(/*bad_at=*/30);  // after several runs were written
  ConvertOptions convert;
  convert.write.dir = in.dir + "/out";
  convert.chunk.samples = 7;
  // A leftover of a killed convert is cleared too.
  std::filesystem::create_directories(convert.write.dir + "/" + kConvertRunsDir + "/run-00000");
  int runs_written = 0;
  convert.progress = [&](const std::string& line) {
    runs_written += line.find("written as a run") != std::string::npos;
  };
  StatusOr<proto::ShardSetManifest> manifest =
      ConvertTextToShardSet(Compile(kSchema), in.files, convert, nullptr);
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(manifest.status().message().find(in.dir + "/b.csv:31: column 5 ('click')"),
            std::string::npos)
      << manifest.status();
  EXPECT_NE(manifest.status().message().find("skip_bad_lines"), std::string::npos);
  EXPECT_GE(runs_written, 3);
  EXPECT_TRUE(FilesOf(convert.write.dir).empty());
}

// A shard count past what a set holds is refused before anything is read or
// created (2^31 - 1 shards never finished creating their files).
TEST(ShardSetConvertTest, AShardCountOutOfRangeIsRefusedFirst) {
  const Inputs in = MakeInputs(0);
  ConvertOptions convert;
  convert.write.dir = in.dir + "/out";
  for (int shards : {0, kMaxShardSetShards + 1, 2147483647}) {
    convert.write.num_shards = shards;
    StatusOr<proto::ShardSetManifest> manifest =
        ConvertTextToShardSet(Compile(kSchema), in.files, convert, nullptr);
    ASSERT_EQ(manifest.status().code(), StatusCode::kInvalidArgument) << shards;
    EXPECT_NE(manifest.status().message().find("num_shards must be in [1, 65536]"),
              std::string::npos)
        << manifest.status();
    EXPECT_FALSE(std::filesystem::exists(convert.write.dir)) << shards;
  }
  EXPECT_TRUE(CheckShardCount(kMaxShardSetShards).ok());
}

TEST(ShardSetConvertTest, MoreShardsThanSamplesLeavesEmptyShards) {
  const Inputs in = MakeInputs(0);
  const CompiledSchema schema = Compile(kSchema);
  StatusOr<Dataset> whole = ReadTextFiles(schema, in.files, TextReadOptions(), nullptr);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ConvertOptions convert;
  convert.write.dir = in.dir + "/out";
  convert.write.num_shards = 100;
  convert.chunk.samples = 10;
  StatusOr<proto::ShardSetManifest> manifest =
      ConvertTextToShardSet(schema, in.files, convert, nullptr);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->shards_size(), 100);
  StatusOr<Dataset> back = ReadShardSet(convert.write.dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameSamples(*back, StableSortedReference(*whole));
}

}  // namespace
}  // namespace iak::data
