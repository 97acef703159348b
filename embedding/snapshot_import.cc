#include "embedding/snapshot_import.h"

#include <utility>

#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/npy_file.h"
#include "embedding/safetensors_file.h"
#include "embedding/snapshot_writer.h"
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
  if (shape.size() != 2 || shape[1] == 0 || shape[1] > (1u << 20)) {
    return InvalidArgumentError(what + " has shape " + ShapeText(shape) +
                                "; rows must be a matrix (num_rows, dim) with dim > 0");
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

}  // namespace

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
  RowTable table;
  switch (format) {
    case ImportFormat::kNpy: {
      IAK_ASSIGN_OR_RETURN(table, ReadNpyRows(options));
      break;
    }
    case ImportFormat::kSafetensors: {
      IAK_ASSIGN_OR_RETURN(table, ReadSafetensorsRows(options));
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

StatusOr<proto::ModelManifest> ImportSnapshot(const SnapshotImportOptions& options) {
  if (options.out_dir.empty()) return InvalidArgumentError("no output directory given (--out)");
  IAK_ASSIGN_OR_RETURN(RowTable table, ReadRowTable(options));
  SnapshotContents contents;
  contents.embedding_dim = table.dim;
  contents.num_shards = options.num_shards;
  contents.keys = &table.keys;
  contents.values = &table.values;
  contents.dtype = options.dtype;
  contents.overwrite = options.overwrite;
  if (!options.base_model_dir.empty()) {
    IAK_ASSIGN_OR_RETURN(ModelDirectory base, LoadModelDirectory(options.base_model_dir));
    if (base.manifest.embedding_dim() != table.dim) {
      return InvalidArgumentError("rows in " + options.rows_path + " have dim " +
                                  std::to_string(table.dim) + " but the base model " +
                                  options.base_model_dir + " has embedding_dim " +
                                  std::to_string(base.manifest.embedding_dim()));
    }
    contents.base_manifest = base.manifest;
    contents.dense_blob = std::move(base.dense_blob);
  }
  if (contents.base_manifest.data_description().empty()) {
    contents.base_manifest.set_data_description("imported from " + options.rows_path);
  }
  Status written = WriteModelDirectory(options.out_dir, contents);
  if (!written.ok()) return written.WithContext("import " + options.rows_path);
  return ReadManifest(options.out_dir);
}

}  // namespace iak::embedding
