// WriteModelDirectory: writes a pre-trained model as a model directory
// (layout in snapshot_format.h): the embedding table split into one RocksDB
// DB per shard by ShardOfKey, the dense weights, and the manifest with
// per-shard and dense checksums and a snapshot id.
//
// The manifest is written last and atomically, so a directory whose write was
// interrupted has no manifest and every reader refuses it.
//
// The table is given in memory; it is checked (sizes, duplicate keys named
// with both rows), sorted into shards and handed to SnapshotStreamWriter in
// key order, the one writer of shard files. Tables larger than memory go to
// SnapshotStreamWriter directly (snapshot_stream_writer.h).
#ifndef IAK_EMBEDDING_SNAPSHOT_WRITER_H_
#define IAK_EMBEDDING_SNAPSHOT_WRITER_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "embedding/row_codec.h"
#include "embedding/snapshot_stream_writer.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

struct SnapshotContents {
  // Dimension, shard count, dtype, dense weights, manifest fields and
  // overwrite: how the directory is written, as for SnapshotStreamWriter
  // (base_manifest's dim, shards, checksums and ids are (over)written here).
  SnapshotStreamOptions options;
  // key -> row of embedding_dim floats. Not owned; must outlive the write.
  const std::unordered_map<uint64_t, std::vector<float>>* table = nullptr;
  // Or, instead of `table` (for large tables: no per-row allocation), parallel
  // arrays: keys[i] has the row values[i*dim .. (i+1)*dim). Keys must be
  // distinct. Not owned; must outlive the write.
  const std::vector<uint64_t>* keys = nullptr;
  const std::vector<float>* values = nullptr;
  // Or, instead of `values`: rows already encoded as `dtype` (row_codec.h),
  // keys.size() * EncodedRowBytes(dim, dtype) bytes, stored byte for byte (so
  // resharding a quantised snapshot never re-quantises). Not owned.
  const std::string* encoded_values = nullptr;
};

// Writes `contents` to `dir` (created if needed).
// InvalidArgument: dim or shard count not positive, no table (or both forms),
// a row whose size is not embedding_dim, a duplicate key (arrays), a value the
// dtype cannot represent (naming the key). AlreadyExists: `dir` holds a manifest and overwrite is
// false. IoError: a file or RocksDB write failed (the directory then has no
// manifest). Rewriting a directory first removes its manifest and the shard
// directories it is about to write.
[[nodiscard]] Status WriteModelDirectory(const std::string& dir, const SnapshotContents& contents);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SNAPSHOT_WRITER_H_
