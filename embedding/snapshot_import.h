// `iak snapshot import`: turns a user's embedding table into a model
// directory (snapshot_format.h) from
//   - a NumPy .npy row matrix (n, d) of float32/float16 plus keys: a text key
//     file (one uint64 per line) or a .npy vector of n uint64/int64;
//   - a safetensors file: the rows tensor (named by `tensor`, or the only 2-D
//     float tensor), keys from a key file or from another tensor of the file;
//   - a CSV/TSV table `key,v1,...,vd` (text_rows_file.h);
//   - a PyTorch / TorchRec state_dict saved as safetensors, one table per
//     feature field (`tables`): row i of a table is the row of value i of its
//     field, keyed as the data readers key it (common/keys.h).
// Rows are stored as `dtype` (row_codec.h) over `num_shards` shards. The
// dense weights and model description come from `base_model_dir` when given
// (so the snapshot can replace a pre-trained model's table, e.g. quantised);
// without one the snapshot holds an empty dense blob and serves rows only.
//
// An .npy table (and an .npy key vector) is streamed: read a chunk of rows at
// a time and handed to SnapshotStreamWriter, so a table larger than memory
// imports in bounded memory (a text key file is held: 8 bytes a row).
// safetensors and CSV/TSV tables are read whole first.
//
// The snapshot id depends on the rows, their dtype, the shard count and the
// dense weights, never on the input format, the input's row order or the time
// (see docs/snapshots.md).
#ifndef IAK_EMBEDDING_SNAPSHOT_IMPORT_H_
#define IAK_EMBEDDING_SNAPSHOT_IMPORT_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/row_codec.h"
#include "embedding/row_table.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

enum class ImportFormat { kAuto, kNpy, kSafetensors, kCsv };

// "auto", "npy", "safetensors", "csv" (also "tsv"); InvalidArgument otherwise.
[[nodiscard]] StatusOr<ImportFormat> ParseImportFormat(const std::string& name);

// A state_dict table and the feature field its rows belong to.
struct TableField {
  std::string table;
  int field = 0;
};

// How row i of a table becomes an embedding key of field f:
//   kRaw:  FeatureKey(f, i), the key of integer value i as the MovieLens
//          reader, LIBSVM/LIBFFM indices and integer numeric buckets make it;
//   kText: FeatureKey(f, HashBytes("<i>")), the key of the text "<i>" in a
//          categorical CSV/TSV column (ids written as decimal numbers).
enum class TableKeys { kRaw, kText };

// "raw" or "text"; InvalidArgument otherwise.
[[nodiscard]] StatusOr<TableKeys> ParseTableKeys(const std::string& name);

// "user:0,movie:1" or "user:user_id,movie:movie_id": table:field pairs, a
// field given by its index or by its name in `field_names` (a model's
// manifest fields; may be empty, then only indices). InvalidArgument naming
// the pair for a missing ':', an unknown field name, a negative index or a
// table named twice.
[[nodiscard]] StatusOr<std::vector<TableField>> ParseTableFields(
    const std::string& text, const std::vector<std::string>& field_names);

struct SnapshotImportOptions {
  // The rows file.
  std::string rows_path;
  // Default kAuto: by extension (.npy, .safetensors, .csv/.tsv/.txt).
  ImportFormat format = ImportFormat::kAuto;
  // A key file: text (one key per line) or .npy. Required for .npy rows;
  // for safetensors, this or keys_tensor.
  std::string keys_path;
  // safetensors: the rows tensor (default: the only 2-D float tensor) and
  // the keys tensor.
  std::string tensor;
  std::string keys_tensor;
  // safetensors state_dict: tables and their fields (instead of tensor /
  // keys). A table's rows are the tensor "embedding_bags.<table>.weight"
  // (TorchRec EmbeddingBagCollection), else "<table>.weight"
  // (torch.nn.Embedding / EmbeddingBag), else "<table>"; all of one dim.
  std::vector<TableField> tables;
  TableKeys table_keys = TableKeys::kRaw;
  // How rows are stored. Default float32.
  RowDtype dtype = RowDtype::kFloat32;
  // Shards to write. Default 1.
  int num_shards = 1;
  // The model directory to write.
  std::string out_dir;
  // Optional: a model directory whose dense weights and description to keep.
  std::string base_model_dir;
  // Replace a model already in out_dir. Default false.
  bool overwrite = false;
};

// Reads the rows and keys described by `options` (no writing).
// InvalidArgument / DataLoss naming the file (and line, for text) and what is
// wrong: unknown format, missing keys, a shape that is not (n, d), key and
// row counts that differ; the readers' own errors.
[[nodiscard]] StatusOr<RowTable> ReadRowTable(const SnapshotImportOptions& options);

// Reads the table and writes the snapshot; returns its manifest. Errors as
// ReadRowTable, LoadModelDirectory (base) and SnapshotStreamWriter, plus
// InvalidArgument when the base model's embedding_dim differs from the rows'
// or a key appears twice. Everything that can be checked before writing
// (format, shapes, key count, the key file) is, so such errors leave out_dir
// untouched; a fault found while streaming leaves it without a manifest.
[[nodiscard]] StatusOr<proto::ModelManifest> ImportSnapshot(const SnapshotImportOptions& options);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SNAPSHOT_IMPORT_H_
