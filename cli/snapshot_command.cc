// `iak snapshot import|synth|inspect|verify|reshard|finalize|promote`: bring
// an embedding table from .npy, safetensors, CSV/TSV or a PyTorch/TorchRec
// state_dict into a model directory, synthesise a seeded one of any size
// (streamed to disk), show one, check one in full, rewrite one with another
// shard count, complete a snapshot written by trainable parameter servers,
// add a fine-tuned domain's new-key rows to a new snapshot. See
// docs/snapshots.md, docs/trainable_ps.md and docs/new_key_rows.md.
//
// --dtype, --shards, --out, --keys and --overwrite are shared with other
// commands of this binary (gflags are process-wide); their defaults there
// ("uniform" keys, 2 shards) are read as "not given" here.
#include <gflags/gflags.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "embedding/embedding_shard.h"
#include "embedding/manifest_io.h"
#include "embedding/row_codec.h"
#include "embedding/snapshot_format.h"
#include "embedding/snapshot_import.h"
#include "embedding/snapshot_tools.h"
#include "embedding/synthetic_table.h"
#include "embedding/trained_snapshot.h"
#include "job/job_spec.h"
#include "worker/new_key_rows.h"

DECLARE_string(dtype);   // bench/pull_bench.cc
DECLARE_int32(shards);   // cli/pretrain_command.cc
DECLARE_string(out);     // cli/pretrain_command.cc
DECLARE_string(keys);    // bench/pull_bench.cc
DECLARE_bool(overwrite);  // cli/pretrain_command.cc
DECLARE_int32(dim);       // cli/pretrain_command.cc
DECLARE_uint64(seed);     // cli/pretrain_command.cc

DEFINE_int64(rows, 0, "snapshot synth: rows of the synthetic table (up to 2^32 - 1)");

DEFINE_string(tensor, "", "snapshot import: the safetensors tensor holding the rows "
                          "(default: the only 2-D float tensor)");
DEFINE_string(keys_tensor, "", "snapshot import: the safetensors tensor holding the keys");
DEFINE_string(format, "auto", "snapshot import: npy, safetensors, csv, or auto (by extension)");
DEFINE_string(base_model, "", "snapshot import: a model directory whose dense weights and "
                              "description the snapshot keeps (so it can replace its table); "
                              "snapshot finalize: the model the servers trained from (default: "
                              "the one their shard files name)");

DEFINE_string(promote_rows, "", "snapshot promote: a domain's new-key rows "
                                "(<output_dir>/adapters/<domain>.rows) to add");
DEFINE_string(tables, "", "snapshot import: a PyTorch/TorchRec state_dict (safetensors) as "
                          "table:field pairs, e.g. user:0,movie:1 (field by index, or by name "
                          "with --base_model); row i of a table is value i of its field");
DEFINE_string(table_keys, "raw", "snapshot import --tables: raw (key of integer value i: "
                                 "MovieLens ids, LIBSVM indices) or text (key of the text \"i\" "
                                 "in a categorical CSV column)");

DEFINE_string(finalize_dense, "", "snapshot finalize: a dense weights file to store instead of "
                                  "the source model's (e.g. dense layers trained with the rows)");

namespace iak::cli {
namespace {

bool IsDefault(const char* flag) {
  return gflags::GetCommandLineFlagInfoOrDie(flag).is_default;
}

int Fail(const Status& status) {
  std::cerr << "iak snapshot: " << status << "\n";
  return 1;
}

int Usage() {
  std::cerr
      << "Usage:\n"
         "  iak snapshot import ROWS --out=DIR [--keys=FILE | --keys_tensor=NAME] [--tensor=NAME]\n"
         "        [--dtype=float32|fp16|int8] [--shards=N] [--base_model=DIR] [--overwrite]\n"
         "        ROWS: rows.npy (with --keys=keys.txt|keys.npy), file.safetensors, table.csv|.tsv\n"
         "  iak snapshot import STATE_DICT.safetensors --tables=TABLE:FIELD,... --out=DIR\n"
         "        [--table_keys=raw|text] [--base_model=DIR] ...  (PyTorch / TorchRec tables)\n"
         "  iak snapshot synth --rows=N --out=DIR [--dim=16] [--dtype=float32|fp16|int8]\n"
         "        [--shards=N] [--seed=S] [--overwrite]   (seeded random rows, streamed to disk)\n"
         "  iak snapshot inspect DIR\n"
         "  iak snapshot verify DIR                (exit 1 naming the first bad shard)\n"
         "  iak snapshot reshard DIR --shards=N --out=DIR2 [--dtype=fp16|int8] [--overwrite]\n"
         "  iak snapshot finalize DIR [--base_model=SRC] [--finalize_dense=FILE]\n"
         "        (complete a trainable PS's output; run again to replace the dense weights)\n"
         "  iak snapshot promote DIR --promote_rows=FILE.rows --out=DIR2 [--shards=N] [--overwrite]\n"
         "        (DIR plus a domain's new-key rows, as a new snapshot)\n"
         "Reference: docs/snapshots.md\n";
  return 2;
}

void PrintManifest(const std::string& dir, const proto::ModelManifest& m) {
  const embedding::RowDtype dtype = *embedding::ParseRowDtype(m.row_dtype());
  const size_t row_bytes = embedding::EncodedRowBytes(m.embedding_dim(), dtype);
  uint64_t total = 0;
  for (const proto::ShardInfo& s : m.shards()) total += s.num_rows();
  std::cout << "snapshot     " << dir << "\n"
            << "snapshot_id  " << m.snapshot_id() << "\n"
            << "format       " << m.format() << "\n"
            << "dim          " << m.embedding_dim() << "\n"
            << "dtype        " << embedding::RowDtypeName(dtype) << " (" << row_bytes
            << " bytes a row)\n"
            << "rows         " << total << "\n"
            << "shards       " << m.num_shards() << "\n"
            << "created_at   " << m.created_at() << "\n"
            << "description  " << m.data_description() << "\n"
            << "dense        " << m.dense_file() << " (checksum "
            << embedding::HexDigest(m.dense_checksum()) << ")\n";
  std::cout << "shard  rows        checksum          in-memory MB  path\n";
  for (const proto::ShardInfo& s : m.shards()) {
    char line[256];
    std::snprintf(line, sizeof(line), "%-6d %-11llu %s  %12.1f  %s\n", s.index(),
                  static_cast<unsigned long long>(s.num_rows()),
                  embedding::HexDigest(s.checksum()).c_str(),
                  embedding::EmbeddingShard::InMemoryBytes(s.num_rows(), row_bytes) / 1e6,
                  s.path().c_str());
    std::cout << line;
  }
}

uint64_t RowsPerSecond(uint64_t rows, double seconds) {
  return static_cast<uint64_t>(static_cast<double>(rows) / seconds);
}

// The manifest of a directory just written, then one line: what was done to
// how many rows, how fast, and the size on disk.
void PrintWritten(const char* verb, const std::string& dir, const proto::ModelManifest& manifest,
                  uint64_t rows, double seconds) {
  PrintManifest(dir, manifest);
  std::cout << verb << " " << rows << " rows in " << seconds << " s ("
            << RowsPerSecond(rows, seconds) << " rows/s), " << DirectoryBytes(dir) / 1e6
            << " MB on disk\n";
}

// --shards (1 when not given), --dtype and --overwrite, read alike by every
// command that writes a new model directory from rows (import, synth).
template <typename OutputOptions>
Status ApplyOutputFlags(OutputOptions* options) {
  options->overwrite = FLAGS_overwrite;
  options->num_shards = IsDefault("shards") ? 1 : FLAGS_shards;
  IAK_ASSIGN_OR_RETURN(options->dtype, embedding::ParseRowDtype(FLAGS_dtype));
  return Status::Ok();
}

int Import(int argc, char** argv) {
  if (argc < 3) return Usage();
  embedding::SnapshotImportOptions options;
  options.rows_path = argv[2];
  if (!IsDefault("keys")) options.keys_path = FLAGS_keys;
  options.tensor = FLAGS_tensor;
  options.keys_tensor = FLAGS_keys_tensor;
  options.out_dir = FLAGS_out;
  options.base_model_dir = FLAGS_base_model;
  StatusOr<embedding::ImportFormat> format = embedding::ParseImportFormat(FLAGS_format);
  if (!format.ok()) return Fail(format.status());
  options.format = *format;
  if (Status flags = ApplyOutputFlags(&options); !flags.ok()) return Fail(flags);
  if (!FLAGS_tables.empty()) {
    // Field names, when given by name, are the base model's.
    std::vector<std::string> field_names;
    if (!options.base_model_dir.empty()) {
      StatusOr<proto::ModelManifest> base = embedding::ReadManifest(options.base_model_dir);
      if (!base.ok()) return Fail(base.status());
      for (const proto::FieldSchema& f : base->fields()) field_names.push_back(f.name());
    }
    StatusOr<std::vector<embedding::TableField>> tables =
        embedding::ParseTableFields(FLAGS_tables, field_names);
    if (!tables.ok()) return Fail(tables.status());
    options.tables = *tables;
    StatusOr<embedding::TableKeys> keys = embedding::ParseTableKeys(FLAGS_table_keys);
    if (!keys.ok()) return Fail(keys.status());
    options.table_keys = *keys;
  }
  if (options.out_dir.empty()) {
    std::cerr << "iak snapshot import: give --out=DIR (the model directory to write)\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  StatusOr<proto::ModelManifest> manifest = embedding::ImportSnapshot(options);
  if (!manifest.ok()) return Fail(manifest.status());
  const double seconds = SecondsSince(start);
  uint64_t rows = 0;
  for (const proto::ShardInfo& s : manifest->shards()) rows += s.num_rows();
  PrintWritten("imported", options.out_dir, *manifest, rows, seconds);
  return 0;
}

int Synth(int argc, char**) {
  if (argc < 2) return Usage();
  if (FLAGS_rows <= 0 || FLAGS_out.empty()) {
    std::cerr << "iak snapshot synth: give --rows=N (> 0) and --out=DIR\n";
    return 2;
  }
  // A model directory's manifest holds at most kMaxManifestEmbeddingDim; a
  // larger --dim would stream every row to disk before the manifest refused it.
  if (FLAGS_dim < 1 || FLAGS_dim > embedding::kMaxManifestEmbeddingDim) {
    return Fail(InvalidArgumentError("--dim must be in [1, " +
                                     std::to_string(embedding::kMaxManifestEmbeddingDim) +
                                     "], got " + std::to_string(FLAGS_dim)));
  }
  embedding::SyntheticSnapshotOptions options;
  options.out_dir = FLAGS_out;
  options.rows = static_cast<uint64_t>(FLAGS_rows);
  options.dim = FLAGS_dim;
  options.seed = FLAGS_seed;
  if (Status flags = ApplyOutputFlags(&options); !flags.ok()) return Fail(flags);
  const auto start = std::chrono::steady_clock::now();
  options.progress = [start](uint64_t rows) {
    std::cerr << "iak snapshot synth: " << rows << " rows in " << SecondsSince(start) << " s\n";
  };
  StatusOr<proto::ModelManifest> manifest = embedding::SynthesizeSnapshot(options);
  if (!manifest.ok()) return Fail(manifest.status());
  const double seconds = SecondsSince(start);
  PrintWritten("synthesised", options.out_dir, *manifest, options.rows, seconds);
  return 0;
}

int Inspect(int argc, char** argv) {
  if (argc < 3) return Usage();
  StatusOr<proto::ModelManifest> manifest = embedding::ReadManifest(argv[2]);
  if (!manifest.ok()) return Fail(manifest.status());
  PrintManifest(argv[2], *manifest);
  return 0;
}

int Verify(int argc, char** argv) {
  if (argc < 3) return Usage();
  const auto start = std::chrono::steady_clock::now();
  StatusOr<embedding::SnapshotVerification> result = embedding::VerifySnapshot(argv[2]);
  if (!result.ok()) return Fail(result.status());
  const double seconds = SecondsSince(start);
  std::cout << "snapshot " << argv[2] << " (id " << result->manifest.snapshot_id() << ")\n";
  for (const embedding::ShardVerification& shard : result->shards) {
    std::cout << "  shard " << shard.index << " " << shard.path << ": "
              << (shard.status.ok() ? "ok" : "BAD") << ", " << shard.rows_read << " of "
              << result->manifest.shards(shard.index).num_rows() << " rows read\n";
    if (!shard.status.ok()) std::cout << "    " << shard.status << "\n";
  }
  std::cout << "  dense " << result->manifest.dense_file() << ": "
            << (result->dense.ok() ? "ok" : "BAD") << "\n";
  if (!result->dense.ok()) std::cout << "    " << result->dense << "\n";
  if (!result->ok()) {
    std::cerr << "iak snapshot verify: " << argv[2] << " is damaged: " << result->FirstError()
              << "\n";
    return 1;
  }
  uint64_t rows = 0;
  for (const embedding::ShardVerification& shard : result->shards) rows += shard.rows_read;
  std::cout << "ok (" << rows << " rows in " << seconds << " s, " << RowsPerSecond(rows, seconds)
            << " rows/s)\n";
  return 0;
}

int Reshard(int argc, char** argv) {
  if (argc < 3) return Usage();
  if (IsDefault("shards") || FLAGS_out.empty()) {
    std::cerr << "iak snapshot reshard: give --shards=N and --out=DIR\n";
    return 2;
  }
  std::optional<embedding::RowDtype> dtype;
  if (!IsDefault("dtype")) {
    StatusOr<embedding::RowDtype> parsed = embedding::ParseRowDtype(FLAGS_dtype);
    if (!parsed.ok()) return Fail(parsed.status());
    dtype = *parsed;
  }
  StatusOr<proto::ModelManifest> manifest = embedding::ReshardSnapshot(
      argv[2], FLAGS_out, FLAGS_shards, FLAGS_overwrite, dtype);
  if (!manifest.ok()) return Fail(manifest.status());
  PrintManifest(FLAGS_out, *manifest);
  return 0;
}

int Finalize(int argc, char** argv) {
  if (argc < 3) return Usage();
  embedding::FinalizeOptions options;
  options.source_model_dir = FLAGS_base_model;
  if (!FLAGS_finalize_dense.empty()) {
    std::string blob;
    Status read = ReadFileToString(FLAGS_finalize_dense, &blob);
    if (!read.ok()) return Fail(read.WithContext("--finalize_dense"));
    options.dense_blob = std::move(blob);
  }
  StatusOr<proto::ModelManifest> manifest = embedding::FinalizeTrainedSnapshot(argv[2], options);
  if (!manifest.ok()) return Fail(manifest.status());
  PrintManifest(argv[2], *manifest);
  return 0;
}

int Promote(int argc, char** argv) {
  if (argc < 3) return Usage();
  if (FLAGS_promote_rows.empty() || FLAGS_out.empty()) {
    std::cerr << "iak snapshot promote: give --promote_rows=FILE.rows and --out=DIR\n";
    return 2;
  }
  std::string blob;
  Status read = ReadFileToString(FLAGS_promote_rows, &blob);
  if (!read.ok()) return Fail(read.WithContext("--promote_rows"));
  StatusOr<worker::NewKeyRows> rows = worker::NewKeyRows::Parse(blob, nullptr);
  if (!rows.ok()) return Fail(rows.status().WithContext(FLAGS_promote_rows));
  StatusOr<proto::ModelManifest> source = embedding::ReadManifest(argv[2]);
  if (!source.ok()) return Fail(source.status());
  const int shards = IsDefault("shards") ? source->num_shards() : FLAGS_shards;
  StatusOr<proto::ModelManifest> manifest = embedding::PromoteRows(
      argv[2], FLAGS_out, rows->keys(), rows->values(), shards, FLAGS_overwrite);
  if (!manifest.ok()) return Fail(manifest.status());
  std::cout << "promoted " << rows->num_rows() << " new-key rows of " << FLAGS_promote_rows
            << "\n";
  PrintManifest(FLAGS_out, *manifest);
  return 0;
}

}  // namespace

int RunSnapshot(int argc, char** argv) {
  // One parameter server serves each shard, and a job has at most
  // job::kMaxNodes of them; a larger count also took hours of empty shards
  // (100000: a RocksDB database each) before anything was said.
  if (!IsDefault("shards") && FLAGS_shards > job::kMaxNodes) {
    return Fail(InvalidArgumentError("--shards must be at most " +
                                     std::to_string(job::kMaxNodes) +
                                     " (one parameter server serves each shard), got " +
                                     std::to_string(FLAGS_shards)));
  }
  if (argc >= 2 && std::strcmp(argv[1], "import") == 0) return Import(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "synth") == 0) return Synth(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "inspect") == 0) return Inspect(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "verify") == 0) return Verify(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "reshard") == 0) return Reshard(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "finalize") == 0) return Finalize(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "promote") == 0) return Promote(argc, argv);
  return Usage();
}

}  // namespace iak::cli
