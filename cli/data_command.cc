// `iak data convert`: read users' text files with a schema and write a binary
// shard set; `iak data inspect`: check a shard set (or dry-run a text read)
// and print its counts, fields, domains and first samples.
#include <gflags/gflags.h>

#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "data/schema.h"
#include "data/shard_set.h"
#include "data/shard_set_convert.h"
#include "data/text_reader.h"

DEFINE_string(schema, "", "data: the schema (*.schema.pbtxt; docs/data.md)");
DEFINE_string(input, "", "data: comma-separated text files to read with --schema");
DEFINE_string(output_dir, "", "data convert: folder for the shard files and manifest.pbtxt");
DEFINE_int32(num_shards, 1, "data convert: shard files to write (workers split them by file)");
DEFINE_string(bad_lines, "fail",
              "data: on a malformed line, fail (default) or skip (count it, quote the first)");
DEFINE_int32(max_bad_examples, 5, "data: how many skipped lines to quote");
DEFINE_int32(read_threads, 2, "data: text parsing threads");
DEFINE_string(shard_dir, "", "data inspect: a shard set folder or its manifest.pbtxt");
DEFINE_bool(domain_ordered, true,
            "data convert: write samples by domain, then time, and record each domain's range "
            "(what streamed jobs need); false keeps the input order");
DEFINE_int32(shard_version, 2, "data convert: shard format version to write (2 compact; 1 old)");
DEFINE_int32(block_samples, 8192, "data convert: samples per compact block (shard version 2)");
DEFINE_int32(zstd_level, 3, "data convert: zstd level of the blocks; 0 stores them uncompressed");
DEFINE_int64(convert_chunk_samples, 500000,
             "data convert: samples read, sorted and written as one temporary run at a time; "
             "bounds the memory (docs/data.md)");
DEFINE_int64(convert_chunk_mb, 1024,
             "data convert: a chunk also ends before its parsed samples pass this many MiB "
             "(wide libffm samples; docs/data.md)");
DEFINE_int32(show, 3, "data inspect: how many samples to print");

namespace iak::cli {
namespace {

// 1 TiB: no chunk of this machine kind's memory comes near it, and MiB
// shifted to bytes stays far inside size_t.
constexpr int64_t kMaxConvertChunkMb = int64_t{1} << 20;

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The schema and read options the flags give.
Status TextReadFromFlags(data::CompiledSchema* schema, data::TextReadOptions* options) {
  if (FLAGS_schema.empty() || FLAGS_input.empty()) {
    return InvalidArgumentError("give --schema=FILE.schema.pbtxt and --input=a.csv[,b.csv...]");
  }
  if (FLAGS_bad_lines != "fail" && FLAGS_bad_lines != "skip") {
    return InvalidArgumentError("--bad_lines is '" + FLAGS_bad_lines + "'; use fail or skip");
  }
  IAK_ASSIGN_OR_RETURN(*schema, data::LoadSchema(FLAGS_schema));
  options->num_threads = FLAGS_read_threads;
  options->bad_lines =
      FLAGS_bad_lines == "skip" ? data::BadLinePolicy::kSkip : data::BadLinePolicy::kFail;
  options->max_error_examples = FLAGS_max_bad_examples;
  return Status::Ok();
}

void PrintSamples(const data::Dataset& d, int count) {
  for (size_t s = 0; s < d.size() && s < static_cast<size_t>(count); ++s) {
    std::cout << "sample " << s << ": click=" << d.click[s];
    if (d.has_conversion()) std::cout << " conversion=" << d.conversion[s];
    std::cout << " domain=" << d.domain_names[static_cast<size_t>(d.domain[s])]
              << " timestamp=" << d.timestamp[s] << "\n  keys:";
    for (int f = 0; f < d.num_fields() && f < 8; ++f) {
      size_t n;
      const uint64_t* keys = d.FieldKeys(s, f, &n);
      std::cout << " " << d.fields[static_cast<size_t>(f)].name << "=[";
      for (size_t i = 0; i < n; ++i) std::cout << (i ? " " : "") << std::hex << keys[i] << std::dec;
      std::cout << "]";
    }
    if (d.num_fields() > 8) std::cout << " ... (" << d.num_fields() << " fields)";
    std::cout << "\n";
  }
}

// Streams the text into shards in bounded memory (data/shard_set_convert.h).
int Convert() {
  if (FLAGS_output_dir.empty()) {
    return ReportError("data convert", InvalidArgumentError("give --output_dir"));
  }
  if ((FLAGS_shard_version != 1 && FLAGS_shard_version != 2) || FLAGS_block_samples < 1 ||
      FLAGS_zstd_level < 0 || FLAGS_zstd_level > 19 || FLAGS_convert_chunk_samples < 1 ||
      FLAGS_convert_chunk_mb < 1 || FLAGS_convert_chunk_mb > kMaxConvertChunkMb) {
    return ReportError(
        "data convert",
        InvalidArgumentError("--shard_version is 1 or 2, --block_samples >= 1, --zstd_level in "
                             "0..19, --convert_chunk_samples >= 1, --convert_chunk_mb in 1.." +
                             std::to_string(kMaxConvertChunkMb)));
  }
  data::CompiledSchema schema;
  data::ConvertOptions options;
  if (Status s = TextReadFromFlags(&schema, &options.read); !s.ok()) {
    return ReportError("data convert", s);
  }
  options.chunk.samples = static_cast<size_t>(FLAGS_convert_chunk_samples);
  options.chunk.parsed_bytes = static_cast<size_t>(FLAGS_convert_chunk_mb) << 20;
  options.progress = [](const std::string& line) { std::cerr << line << "\n"; };
  options.write.dir = FLAGS_output_dir;
  options.write.num_shards = FLAGS_num_shards;
  options.write.domain_ordered = FLAGS_domain_ordered;
  options.write.file.version = static_cast<uint32_t>(FLAGS_shard_version);
  options.write.file.block_samples = static_cast<size_t>(FLAGS_block_samples);
  options.write.file.zstd_level = FLAGS_zstd_level;
  data::TextReadReport report;
  StatusOr<proto::ShardSetManifest> manifest =
      data::ConvertTextToShardSet(schema, SplitList(FLAGS_input), options, &report);
  if (!manifest.ok()) return ReportError("data convert", manifest.status());
  std::cout << report.ToString() << "\nwrote " << manifest->shards_size() << " shard(s), "
            << manifest->num_samples() << " samples, " << manifest->fields_size()
            << " fields, to " << FLAGS_output_dir << "/" << data::kManifestName
            << (options.write.domain_ordered ? " (domain-ordered)" : "") << "\n";
  return 0;
}

int Inspect() {
  if (FLAGS_shard_dir.empty()) {
    // A dry run of the text read: counts, domains, bad lines, first samples.
    data::CompiledSchema schema;
    data::TextReadOptions options;
    if (Status s = TextReadFromFlags(&schema, &options); !s.ok()) {
      return ReportError("data inspect", s);
    }
    data::TextReadReport report;
    StatusOr<data::Dataset> dataset =
        data::ReadTextFiles(schema, SplitList(FLAGS_input), options, &report);
    if (!dataset.ok()) return ReportError("data inspect", dataset.status());
    std::cout << report.ToString() << "\n";
    PrintSamples(*dataset, FLAGS_show);
    return 0;
  }
  proto::ShardSetManifest manifest;
  StatusOr<data::Dataset> dataset =
      data::ReadShardSet(FLAGS_shard_dir, 0, 1, /*verify=*/true, &manifest);
  if (!dataset.ok()) return ReportError("data inspect", dataset.status());
  std::cout << FLAGS_shard_dir << ": " << manifest.shards_size() << " shard(s), all checksums "
            << "good; " << dataset->size() << " samples, " << dataset->num_fields() << " fields"
            << (dataset->has_conversion() ? ", click + conversion" : ", click") << "\nper domain:";
  for (int d = 0; d < manifest.domain_names_size(); ++d) {
    std::cout << " " << manifest.domain_names(d) << "=" << manifest.domain_counts(d);
  }
  std::cout << "\n";
  if (manifest.domain_ordered()) {  // what a streamed job reads as ranges
    std::cout << "domain-ordered; samples per domain:";
    for (int d = 0; d < manifest.domain_first_sample_size(); ++d) {
      std::cout << " " << manifest.domain_names(d) << "=[" << manifest.domain_first_sample(d)
                << ", " << manifest.domain_first_sample(d) + manifest.domain_counts(d) << ")";
    }
    std::cout << "\n";
  } else {
    std::cout << "input order (not streamable: rewrite with `iak data convert`)\n";
  }
  for (const proto::ShardFileInfo& s : manifest.shards()) {
    std::cout << "  " << s.path() << ": " << s.num_samples() << " samples from #"
              << s.first_sample() << "\n";
  }
  PrintSamples(*dataset, FLAGS_show);
  return 0;
}

}  // namespace

int RunData(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "convert") == 0) return Convert();
  if (argc >= 2 && std::strcmp(argv[1], "inspect") == 0) return Inspect();
  if (argc >= 2 && std::strcmp(argv[1], "synth") == 0) return RunDataSynth(argc - 1, argv + 1);
  std::cerr << "Usage:\n"
               "  iak data convert --schema=S.schema.pbtxt --input=a.csv[,b.csv] "
               "--output_dir=DIR [--num_shards=N] [--bad_lines=skip]\n"
               "      [--domain_ordered=false] [--shard_version=1] [--block_samples=N] "
               "[--zstd_level=L]\n"
               "      [--convert_chunk_samples=N] [--convert_chunk_mb=MB]\n"
               "  iak data inspect --shard_dir=DIR          (check a shard set)\n"
               "  iak data inspect --schema=S --input=FILES  (dry-run a text read)\n"
               "  iak data synth --out=F.csv --samples=N --keys=K --domains=D --seed=S\n"
               "Schema reference: docs/data.md\n";
  return 2;
}

}  // namespace iak::cli
