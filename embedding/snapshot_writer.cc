#include "embedding/snapshot_writer.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "common/keys.h"
#include "common/file_util.h"
#include "embedding/manifest_io.h"
#include "embedding/snapshot_format.h"

namespace iak::embedding {
namespace {

namespace fs = std::filesystem;

constexpr size_t kRowsPerBatch = 4096;

Status RemoveIfPresent(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IoError("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

// Where the rows of a table come from: a map or parallel arrays.
class RowSource {
 public:
  explicit RowSource(const SnapshotContents& contents) : contents_(contents) {}
  const float* Row(uint64_t key, size_t index) const {
    if (contents_.table != nullptr) return contents_.table->at(key).data();
    return contents_.values->data() + index * static_cast<size_t>(contents_.embedding_dim);
  }
  // The row already encoded, or nullptr when rows are given as floats.
  const char* EncodedRow(size_t index, size_t row_bytes) const {
    if (contents_.encoded_values == nullptr) return nullptr;
    return contents_.encoded_values->data() + index * row_bytes;
  }

 private:
  const SnapshotContents& contents_;
};

struct ShardEntry {
  uint64_t key;
  size_t index;  // row index in the arrays (unused for a map)
};

// Writes `entries` (sorted by key) to a new RocksDB at `path`, rows encoded as
// `dtype`; returns the shard's checksum (over the stored bytes) in `*checksum`.
Status WriteShard(const std::string& path, const std::vector<ShardEntry>& entries,
                  const RowSource& source, int dim, RowDtype dtype, uint64_t* checksum) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.write_buffer_size = 64 << 20;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw_db);
  if (!s.ok()) return IoError("cannot create embedding shard " + path + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw_db);

  const size_t row_bytes = EncodedRowBytes(dim, dtype);
  std::string encoded(row_bytes, '\0');
  SnapshotHasher hasher;
  rocksdb::WriteOptions write_options;
  // The snapshot is only valid once flushed and its manifest written; a crash
  // before that loses nothing worth a WAL.
  write_options.disableWAL = true;
  rocksdb::WriteBatch batch;
  char key_bytes[8];
  for (size_t i = 0; i < entries.size(); ++i) {
    const uint64_t key = entries[i].key;
    const char* row = source.EncodedRow(entries[i].index, row_bytes);
    if (row == nullptr) {
      Status encode = EncodeRow(source.Row(key, entries[i].index), dim, dtype, encoded.data());
      if (!encode.ok()) {
        return InvalidArgumentError("cannot store the row of key " + std::to_string(key) +
                                    " as " + RowDtypeName(dtype) + ": " + encode.message());
      }
      row = encoded.data();
    }
    EncodeShardKey(key, key_bytes);
    hasher.UpdateU64(key);
    hasher.Update(row, row_bytes);
    s = batch.Put(rocksdb::Slice(key_bytes, 8), rocksdb::Slice(row, row_bytes));
    if (s.ok() && (batch.Count() >= static_cast<int>(kRowsPerBatch) || i + 1 == entries.size())) {
      s = db->Write(write_options, &batch);
      batch.Clear();
    }
    if (!s.ok()) return IoError("cannot write embedding shard " + path + ": " + s.ToString());
  }
  s = db->Flush(rocksdb::FlushOptions());
  if (s.ok()) s = db->Close();
  if (!s.ok()) return IoError("cannot flush embedding shard " + path + ": " + s.ToString());
  *checksum = hasher.Digest();
  return Status::Ok();
}

}  // namespace

Status WriteModelDirectory(const std::string& dir, const SnapshotContents& contents) {
  const int dim = contents.embedding_dim;
  const int num_shards = contents.num_shards;
  if (dim <= 0) return InvalidArgumentError("embedding_dim must be positive, got " + std::to_string(dim));
  if (num_shards <= 0) {
    return InvalidArgumentError("num_shards must be positive, got " + std::to_string(num_shards));
  }
  const bool has_map = contents.table != nullptr;
  const bool has_arrays = contents.keys != nullptr || contents.values != nullptr ||
                          contents.encoded_values != nullptr;
  if (!has_map && !has_arrays) return InvalidArgumentError("no embedding table to write");
  if (has_map && has_arrays) {
    return InvalidArgumentError("give the embedding table either as a map or as arrays, not both");
  }

  // Sort keys into shards first: a bad row is refused before anything is written.
  std::vector<std::vector<ShardEntry>> shard_entries(num_shards);
  if (has_map) {
    for (const auto& [key, row] : *contents.table) {
      if (row.size() != static_cast<size_t>(dim)) {
        return InvalidArgumentError("the row of key " + std::to_string(key) + " has " +
                                    std::to_string(row.size()) + " values, expected " +
                                    std::to_string(dim));
      }
      shard_entries[ShardOfKey(key, num_shards)].push_back(ShardEntry{key, 0});
    }
  } else {
    if (contents.keys == nullptr ||
        (contents.values == nullptr) == (contents.encoded_values == nullptr)) {
      return InvalidArgumentError(
          "an embedding table given as arrays needs keys and either values or encoded values");
    }
    const std::vector<uint64_t>& keys = *contents.keys;
    if (contents.encoded_values != nullptr) {
      const size_t row_bytes = EncodedRowBytes(dim, contents.dtype);
      if (contents.encoded_values->size() != keys.size() * row_bytes) {
        return InvalidArgumentError(std::to_string(keys.size()) + " keys need " +
                                    std::to_string(keys.size() * row_bytes) + " bytes of " +
                                    RowDtypeName(contents.dtype) + " rows at dim " +
                                    std::to_string(dim) + ", got " +
                                    std::to_string(contents.encoded_values->size()));
      }
    } else if (contents.values->size() != keys.size() * static_cast<size_t>(dim)) {
      return InvalidArgumentError(std::to_string(keys.size()) + " keys need " +
                                  std::to_string(keys.size() * static_cast<size_t>(dim)) +
                                  " values at dim " + std::to_string(dim) + ", got " +
                                  std::to_string(contents.values->size()));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      shard_entries[ShardOfKey(keys[i], num_shards)].push_back(ShardEntry{keys[i], i});
    }
  }
  for (auto& entries : shard_entries) {
    std::sort(entries.begin(), entries.end(),
              [](const ShardEntry& a, const ShardEntry& b) { return a.key < b.key; });
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].key == entries[i - 1].key) {
        return InvalidArgumentError("key " + std::to_string(entries[i].key) +
                                    " appears twice (rows " +
                                    std::to_string(entries[i - 1].index) + " and " +
                                    std::to_string(entries[i].index) + ")");
      }
    }
  }
  const RowSource source(contents);

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create model directory " + dir + ": " + ec.message());
  const std::string manifest_path = ManifestPath(dir);
  if (fs::exists(manifest_path, ec)) {
    if (!contents.overwrite) {
      return Status(StatusCode::kAlreadyExists,
                    dir + " already holds a model (" + manifest_path +
                        "); choose another directory or allow overwriting");
    }
  }
  // From here on the directory is incomplete: no manifest until the end.
  IAK_RETURN_IF_ERROR(RemoveIfPresent(manifest_path));

  proto::ModelManifest manifest = contents.base_manifest;
  manifest.set_format(kModelFormat);
  manifest.set_embedding_dim(dim);
  manifest.set_num_shards(num_shards);
  manifest.set_row_dtype(RowDtypeName(contents.dtype));
  manifest.clear_shards();
  SnapshotHasher snapshot;
  snapshot.UpdateU64(static_cast<uint64_t>(dim));
  snapshot.UpdateU64(static_cast<uint64_t>(num_shards));
  // float32 snapshots keep the ids they had before quantisation existed.
  if (contents.dtype != RowDtype::kFloat32) snapshot.UpdateU64(100 + static_cast<uint64_t>(contents.dtype));
  for (int shard = 0; shard < num_shards; ++shard) {
    const std::string name = ShardDirName(shard, num_shards);
    const std::string path = JoinPath(dir, name);
    IAK_RETURN_IF_ERROR(RemoveIfPresent(path));
    uint64_t checksum = 0;
    IAK_RETURN_IF_ERROR(
        WriteShard(path, shard_entries[shard], source, dim, contents.dtype, &checksum));
    proto::ShardInfo* info = manifest.add_shards();
    info->set_index(shard);
    info->set_path(name);
    info->set_num_rows(shard_entries[shard].size());
    info->set_checksum(checksum);
    snapshot.UpdateU64(shard_entries[shard].size());
    snapshot.UpdateU64(checksum);
  }

  IAK_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir, kDenseFileName), contents.dense_blob));
  SnapshotHasher dense;
  dense.Update(contents.dense_blob.data(), contents.dense_blob.size());
  manifest.set_dense_file(kDenseFileName);
  manifest.set_dense_checksum(dense.Digest());
  snapshot.UpdateU64(dense.Digest());
  manifest.set_snapshot_id(HexDigest(snapshot.Digest()));
  manifest.set_created_at(ManifestTimestampNow());
  return WriteManifest(dir, manifest);
}

}  // namespace iak::embedding
