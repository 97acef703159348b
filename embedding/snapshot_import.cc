#include "embedding/snapshot_import.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/npy_file.h"
#include "embedding/safetensors_file.h"
#include "embedding/snapshot_stream_writer.h"
#include "embedding/text_rows_file.h"

namespace iak::embedding {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

StatusOr<ImportFormat> FormatOf(const SnapshotImportOptions& options) {
  if (options.format != ImportFormat::kAuto) return options.format;
  const std::string& p = options.rows_path;
  if (EndsWith(p, ".npy")) return ImportFormat::kNpy;
  if (EndsWith(p, ".safetensors")) return ImportFormat::kSafetensors;
  if (EndsWith(p, ".csv") || EndsWith(p, ".tsv") || EndsWith(p, ".txt")) return ImportFormat::kCsv;
  return InvalidArgumentError("cannot tell the format of " + p +
                              " from its name; name it .npy, .safetensors, .csv or .tsv, or "
                              "give --format=npy|safetensors|csv");
}

// Keys from a key file: .npy vector or text.
StatusOr<std::vector<uint64_t>> ReadKeyFile(const std::string& path) {
  if (!EndsWith(path, ".npy")) return ReadKeyListFile(path);
  IAK_ASSIGN_OR_RETURN(NpyArray array, ReadNpyFile(path));
  if (array.dtype != NpyDtype::kUint64 && array.dtype != NpyDtype::kInt64) {
    return InvalidArgumentError(path + ": keys must be a uint64 ('<u8') or int64 ('<i8') array");
  }
  if (array.shape.size() != 1 && !(array.shape.size() == 2 && array.shape[1] == 1)) {
    return InvalidArgumentError(path + ": keys must be a vector of shape (n,), got " +
                                std::to_string(array.shape.size()) + " dimensions");
  }
  return NpyToKeys(array, path);
}

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

Status CheckMatrixShape(const std::vector<uint64_t>& shape, const std::string& what) {
  if (shape.size() != 2 || shape[1] == 0) {
    return InvalidArgumentError(what + " has shape " + ShapeText(shape) +
                                "; rows must be a matrix (num_rows, dim) with dim > 0");
  }
  // Checked before any row is read: a manifest refuses a wider table anyway,
  // but only after the whole import has been written.
  if (shape[1] > static_cast<uint64_t>(kMaxManifestEmbeddingDim)) {
    return InvalidArgumentError(what + " has shape " + ShapeText(shape) + "; dim " +
                                std::to_string(shape[1]) + " is above the largest a snapshot holds (" +
                                std::to_string(kMaxManifestEmbeddingDim) + ")");
  }
  return Status::Ok();
}

StatusOr<RowTable> ReadNpyRows(const SnapshotImportOptions& options) {
  IAK_ASSIGN_OR_RETURN(NpyArray array, ReadNpyFile(options.rows_path));
  if (array.dtype != NpyDtype::kFloat32 && array.dtype != NpyDtype::kFloat16) {
    return InvalidArgumentError(options.rows_path +
                                ": rows must be float32 ('<f4') or float16 ('<f2')");
  }
  IAK_RETURN_IF_ERROR(CheckMatrixShape(array.shape, options.rows_path));
  if (options.keys_path.empty()) {
    return InvalidArgumentError("rows " + options.rows_path +
                                " need their keys: give --keys=FILE (one uint64 per line, or a "
                                ".npy vector of uint64)");
  }
  RowTable table;
  table.dim = static_cast<int>(array.shape[1]);
  table.values = NpyToFloats(array);
  IAK_ASSIGN_OR_RETURN(table.keys, ReadKeyFile(options.keys_path));
  return table;
}

StatusOr<RowTable> ReadSafetensorsRows(const SnapshotImportOptions& options) {
  IAK_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensorsFile(options.rows_path));
  std::string name = options.tensor;
  if (name.empty()) {
    for (const auto& [n, t] : file.tensors) {
      if (t.shape.size() != 2 || (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")) {
        continue;
      }
      if (!name.empty()) {
        return InvalidArgumentError(options.rows_path + " holds several 2-D float tensors (\"" +
                                    name + "\", \"" + n + "\"); name one with --tensor");
      }
      name = n;
    }
    if (name.empty()) {
      return InvalidArgumentError(options.rows_path +
                                  " holds no 2-D float tensor; name the rows with --tensor");
    }
  }
  IAK_ASSIGN_OR_RETURN(const SafetensorsTensor* tensor, file.Find(name));
  IAK_RETURN_IF_ERROR(
      CheckMatrixShape(tensor->shape, options.rows_path + ": tensor \"" + name + "\""));
  RowTable table;
  table.dim = static_cast<int>(tensor->shape[1]);
  IAK_ASSIGN_OR_RETURN(table.values, file.Floats(name));
  if (!options.keys_tensor.empty() && !options.keys_path.empty()) {
    return InvalidArgumentError("give the keys either as --keys=FILE or as --keys_tensor=NAME");
  }
  if (!options.keys_tensor.empty()) {
    IAK_ASSIGN_OR_RETURN(table.keys, file.Keys(options.keys_tensor));
  } else if (!options.keys_path.empty()) {
    IAK_ASSIGN_OR_RETURN(table.keys, ReadKeyFile(options.keys_path));
  } else {
    return InvalidArgumentError("rows " + options.rows_path + " (tensor \"" + name +
                                "\") need their keys: give --keys_tensor=NAME (a U64/I64 tensor "
                                "of the same file) or --keys=FILE");
  }
  return table;
}

// The rows tensor of `table` in a state_dict (see TableField).
StatusOr<std::string> TableTensorName(const SafetensorsFile& file, const std::string& table) {
  for (const std::string& name :
       {"embedding_bags." + table + ".weight", table + ".weight", table}) {
    if (file.tensors.count(name) > 0) return name;
  }
  std::string present;
  for (const auto& [name, t] : file.tensors) present += (present.empty() ? "" : ", ") + name;
  return NotFoundError(file.path + " has no table \"" + table + "\" (looked for embedding_bags." +
                       table + ".weight, " + table + ".weight and " + table +
                       "); its tensors: " + present);
}

StatusOr<RowTable> ReadStateDictTables(const SnapshotImportOptions& options) {
  if (!options.tensor.empty() || !options.keys_tensor.empty() || !options.keys_path.empty()) {
    return InvalidArgumentError("--tables gives each table's rows and keys; drop --tensor, "
                                "--keys_tensor and --keys");
  }
  IAK_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensorsFile(options.rows_path));
  RowTable table;
  for (const TableField& t : options.tables) {
    IAK_ASSIGN_OR_RETURN(std::string name, TableTensorName(file, t.table));
    const std::string what = options.rows_path + ": table \"" + t.table + "\" (" + name + ")";
    IAK_ASSIGN_OR_RETURN(const SafetensorsTensor* tensor, file.Find(name));
    IAK_RETURN_IF_ERROR(CheckMatrixShape(tensor->shape, what));
    const int dim = static_cast<int>(tensor->shape[1]);
    if (table.dim != 0 && dim != table.dim) {
      return InvalidArgumentError(what + " has dim " + std::to_string(dim) +
                                  " but the tables before it have dim " +
                                  std::to_string(table.dim) + ": one model has one dim");
    }
    table.dim = dim;
    IAK_ASSIGN_OR_RETURN(std::vector<float> values, file.Floats(name));
    table.values.insert(table.values.end(), values.begin(), values.end());
    const auto field = static_cast<uint32_t>(t.field);
    for (uint64_t i = 0; i < tensor->shape[0]; ++i) {
      const uint64_t value =
          options.table_keys == TableKeys::kRaw ? i : HashBytes(std::to_string(i));
      table.keys.push_back(FeatureKey(field, value));
    }
  }
  return table;
}

}  // namespace

StatusOr<TableKeys> ParseTableKeys(const std::string& name) {
  if (name.empty() || name == "raw") return TableKeys::kRaw;
  if (name == "text") return TableKeys::kText;
  return InvalidArgumentError("unknown --table_keys '" + name + "'; use raw or text");
}

StatusOr<std::vector<TableField>> ParseTableFields(const std::string& text,
                                                   const std::vector<std::string>& field_names) {
  std::vector<TableField> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string pair = text.substr(start, end - start);
    start = end + 1;
    const size_t colon = pair.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == pair.size()) {
      return InvalidArgumentError("table mapping \"" + pair +
                                  "\" is not table:field (e.g. user:0 or user:user_id)");
    }
    TableField t;
    t.table = pair.substr(0, colon);
    const std::string field = pair.substr(colon + 1);
    const auto named = std::find(field_names.begin(), field_names.end(), field);
    if (named != field_names.end()) {
      t.field = static_cast<int>(named - field_names.begin());
    } else if (field.find_first_not_of("0123456789") == std::string::npos && field.size() < 9) {
      t.field = std::stoi(field);
    } else {
      std::string names;
      for (const std::string& n : field_names) names += (names.empty() ? "" : ", ") + n;
      return InvalidArgumentError("table mapping \"" + pair + "\": field \"" + field +
                                  "\" is neither an index nor a field name" +
                                  (names.empty() ? std::string(" (give --base_model to use names)")
                                                 : " (" + names + ")"));
    }
    for (const TableField& before : out) {
      if (before.table == t.table) {
        return InvalidArgumentError("table \"" + t.table + "\" is mapped twice");
      }
    }
    out.push_back(t);
  }
  if (out.empty()) return InvalidArgumentError("no table:field pair given");
  return out;
}

StatusOr<ImportFormat> ParseImportFormat(const std::string& name) {
  if (name.empty() || name == "auto") return ImportFormat::kAuto;
  if (name == "npy") return ImportFormat::kNpy;
  if (name == "safetensors") return ImportFormat::kSafetensors;
  if (name == "csv" || name == "tsv") return ImportFormat::kCsv;
  return InvalidArgumentError("unknown import format '" + name +
                              "'; use auto, npy, safetensors or csv");
}

StatusOr<RowTable> ReadRowTable(const SnapshotImportOptions& options) {
  if (options.rows_path.empty()) return InvalidArgumentError("no rows file given");
  IAK_ASSIGN_OR_RETURN(ImportFormat format, FormatOf(options));
  if (!options.tables.empty() && format != ImportFormat::kSafetensors) {
    return InvalidArgumentError(options.rows_path +
                                ": --tables reads a state_dict saved as safetensors; save it "
                                "with safetensors.torch.save_file");
  }
  RowTable table;
  switch (format) {
    case ImportFormat::kNpy: {
      IAK_ASSIGN_OR_RETURN(table, ReadNpyRows(options));
      break;
    }
    case ImportFormat::kSafetensors: {
      if (options.tables.empty()) {
        IAK_ASSIGN_OR_RETURN(table, ReadSafetensorsRows(options));
      } else {
        IAK_ASSIGN_OR_RETURN(table, ReadStateDictTables(options));
      }
      break;
    }
    default: {
      if (!options.keys_path.empty() || !options.keys_tensor.empty()) {
        return InvalidArgumentError(options.rows_path +
                                    ": a CSV/TSV table carries its keys in its first column; "
                                    "drop --keys/--keys_tensor");
      }
      IAK_ASSIGN_OR_RETURN(table, ReadCsvRowsFile(options.rows_path));
      break;
    }
  }
  const size_t rows = table.values.size() / static_cast<size_t>(table.dim);
  if (table.keys.size() != rows) {
    return InvalidArgumentError(std::to_string(table.keys.size()) + " keys for " +
                                std::to_string(rows) + " rows in " + options.rows_path +
                                ": give exactly one key per row");
  }
  return table;
}

namespace {

// Rows per chunk of a streamed .npy import: at most 65,536 rows and about
// 64 MiB of float32 values whatever the table's size and width (a wide row
// gets fewer rows per chunk), and never more rows than the file holds.
uint64_t ImportChunkRows(uint64_t num_rows, size_t dim) {
  constexpr uint64_t kMaxRows = 65536;
  constexpr uint64_t kMaxBytes = uint64_t{64} << 20;
  const uint64_t by_bytes = std::max<uint64_t>(1, kMaxBytes / (dim * sizeof(float)));
  return std::max<uint64_t>(1, std::min({kMaxRows, by_bytes, num_rows}));
}

// An .npy row matrix and its keys, read chunk by chunk.
struct NpyRowStream {
  std::unique_ptr<NpyFileReader> rows;
  int dim = 0;
  uint64_t num_rows = 0;
  // Keys: from an .npy vector read in chunks, or a text key file (held).
  std::unique_ptr<NpyFileReader> key_reader;
  std::vector<uint64_t> key_list;
};

// Opens and checks everything before a byte is written.
StatusOr<NpyRowStream> OpenNpyRows(const SnapshotImportOptions& options) {
  NpyRowStream stream;
  IAK_ASSIGN_OR_RETURN(stream.rows, NpyFileReader::Open(options.rows_path));
  const NpyHeader& header = stream.rows->header();
  if (header.dtype != NpyDtype::kFloat32 && header.dtype != NpyDtype::kFloat16) {
    return InvalidArgumentError(options.rows_path +
                                ": rows must be float32 ('<f4') or float16 ('<f2')");
  }
  IAK_RETURN_IF_ERROR(CheckMatrixShape(header.shape, options.rows_path));
  stream.dim = static_cast<int>(header.shape[1]);
  stream.num_rows = header.shape[0];
  if (options.keys_path.empty()) {
    return InvalidArgumentError("rows " + options.rows_path +
                                " need their keys: give --keys=FILE (one uint64 per line, or a "
                                ".npy vector of uint64)");
  }
  uint64_t num_keys = 0;
  if (EndsWith(options.keys_path, ".npy")) {
    IAK_ASSIGN_OR_RETURN(stream.key_reader, NpyFileReader::Open(options.keys_path));
    const NpyHeader& keys = stream.key_reader->header();
    if (keys.dtype != NpyDtype::kUint64 && keys.dtype != NpyDtype::kInt64) {
      return InvalidArgumentError(options.keys_path +
                                  ": keys must be a uint64 ('<u8') or int64 ('<i8') array");
    }
    if (keys.shape.size() != 1 && !(keys.shape.size() == 2 && keys.shape[1] == 1)) {
      return InvalidArgumentError(options.keys_path + ": keys must be a vector of shape (n,), got " +
                                  std::to_string(keys.shape.size()) + " dimensions");
    }
    num_keys = keys.num_elements();
  } else {
    IAK_ASSIGN_OR_RETURN(stream.key_list, ReadKeyListFile(options.keys_path));
    num_keys = stream.key_list.size();
  }
  if (num_keys != stream.num_rows) {
    return InvalidArgumentError(std::to_string(num_keys) + " keys for " +
                                std::to_string(stream.num_rows) + " rows in " +
                                options.rows_path + ": give exactly one key per row");
  }
  return stream;
}

// Streams every row of `stream` into `writer`, a chunk at a time.
Status WriteNpyRows(const NpyRowStream& stream, const std::string& keys_path,
                    SnapshotStreamWriter* writer) {
  const size_t dim = static_cast<size_t>(stream.dim);
  const bool half = stream.rows->header().dtype == NpyDtype::kFloat16;
  const uint64_t chunk_rows = ImportChunkRows(stream.num_rows, dim);
  std::string raw(static_cast<size_t>(chunk_rows) * dim * (half ? 2 : 4), '\0');
  std::vector<float> values(static_cast<size_t>(chunk_rows) * dim);
  std::vector<uint64_t> keys(static_cast<size_t>(chunk_rows));
  const bool signed_keys =
      stream.key_reader != nullptr && stream.key_reader->header().dtype == NpyDtype::kInt64;
  for (uint64_t first = 0; first < stream.num_rows; first += chunk_rows) {
    const uint64_t n = std::min(chunk_rows, stream.num_rows - first);
    IAK_RETURN_IF_ERROR(stream.rows->ReadElements(first * dim, n * dim, raw.data()));
    if (half) {
      for (size_t i = 0; i < n * dim; ++i) {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        values[i] = HalfToFloat(h);
      }
    } else {
      std::memcpy(values.data(), raw.data(), n * dim * sizeof(float));
    }
    if (stream.key_reader != nullptr) {
      IAK_RETURN_IF_ERROR(
          stream.key_reader->ReadElements(first, n, reinterpret_cast<char*>(keys.data())));
    } else {
      std::memcpy(keys.data(), stream.key_list.data() + first, n * sizeof(uint64_t));
    }
    for (uint64_t i = 0; i < n; ++i) {
      if (signed_keys && static_cast<int64_t>(keys[i]) < 0) {
        return InvalidArgumentError(keys_path + ": key " + std::to_string(first + i) +
                                    " is negative (" +
                                    std::to_string(static_cast<int64_t>(keys[i])) +
                                    "); keys are uint64");
      }
      IAK_RETURN_IF_ERROR(writer->Add(keys[i], values.data() + i * dim));
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<proto::ModelManifest> ImportSnapshot(const SnapshotImportOptions& options) {
  if (options.out_dir.empty()) return InvalidArgumentError("no output directory given (--out)");
  if (options.rows_path.empty()) return InvalidArgumentError("no rows file given");
  IAK_ASSIGN_OR_RETURN(ImportFormat format, FormatOf(options));
  // An .npy table is streamed (never held); safetensors and CSV are read whole.
  std::optional<NpyRowStream> npy;
  RowTable table;
  if (format == ImportFormat::kNpy) {
    IAK_ASSIGN_OR_RETURN(npy, OpenNpyRows(options));
    table.dim = npy->dim;
  } else {
    IAK_ASSIGN_OR_RETURN(table, ReadRowTable(options));
  }
  SnapshotStreamOptions stream;
  stream.embedding_dim = table.dim;
  stream.num_shards = options.num_shards;
  stream.dtype = options.dtype;
  stream.overwrite = options.overwrite;
  if (!options.base_model_dir.empty()) {
    IAK_ASSIGN_OR_RETURN(ModelDirectory base, LoadModelDirectory(options.base_model_dir));
    if (base.manifest.embedding_dim() != table.dim) {
      return InvalidArgumentError("rows in " + options.rows_path + " have dim " +
                                  std::to_string(table.dim) + " but the base model " +
                                  options.base_model_dir + " has embedding_dim " +
                                  std::to_string(base.manifest.embedding_dim()));
    }
    stream.base_manifest = base.manifest;
    stream.dense_blob = std::move(base.dense_blob);
  }
  if (stream.base_manifest.data_description().empty()) {
    stream.base_manifest.set_data_description("imported from " + options.rows_path);
  }
  auto write = [&]() -> StatusOr<proto::ModelManifest> {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotStreamWriter> writer,
                         SnapshotStreamWriter::Open(options.out_dir, std::move(stream)));
    if (npy.has_value()) {
      IAK_RETURN_IF_ERROR(WriteNpyRows(*npy, options.keys_path, writer.get()));
    } else {
      const size_t dim = static_cast<size_t>(table.dim);
      for (size_t i = 0; i < table.keys.size(); ++i) {
        IAK_RETURN_IF_ERROR(writer->Add(table.keys[i], table.values.data() + i * dim));
      }
    }
    return writer->Finish();
  };
  StatusOr<proto::ModelManifest> written = write();
  if (!written.ok()) return written.status().WithContext("import " + options.rows_path);
  return written;
}

}  // namespace iak::embedding
