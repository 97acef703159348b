#include "embedding/snapshot_writer.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>

#include "common/keys.h"
#include "embedding/file_util.h"
#include "embedding/manifest_io.h"
#include "embedding/snapshot_format.h"

namespace iak::embedding {
namespace {

namespace fs = std::filesystem;

constexpr size_t kRowsPerBatch = 4096;

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

Status RemoveIfPresent(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IoError("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

// Writes `keys` (sorted) of `table` to a new RocksDB at `path`; returns the
// shard's checksum in `*checksum`.
Status WriteShard(const std::string& path, const std::vector<uint64_t>& keys,
                  const std::unordered_map<uint64_t, std::vector<float>>& table, int dim,
                  uint64_t* checksum) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.write_buffer_size = 64 << 20;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw_db);
  if (!s.ok()) return IoError("cannot create embedding shard " + path + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw_db);

  const size_t row_bytes = static_cast<size_t>(dim) * sizeof(float);
  SnapshotHasher hasher;
  rocksdb::WriteOptions write_options;
  // The snapshot is only valid once flushed and its manifest written; a crash
  // before that loses nothing worth a WAL.
  write_options.disableWAL = true;
  rocksdb::WriteBatch batch;
  char key_bytes[8];
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::vector<float>& row = table.at(keys[i]);
    EncodeShardKey(keys[i], key_bytes);
    hasher.UpdateU64(keys[i]);
    hasher.Update(row.data(), row_bytes);
    s = batch.Put(rocksdb::Slice(key_bytes, 8),
                  rocksdb::Slice(reinterpret_cast<const char*>(row.data()), row_bytes));
    if (s.ok() && (batch.Count() >= static_cast<int>(kRowsPerBatch) || i + 1 == keys.size())) {
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
  if (contents.table == nullptr) return InvalidArgumentError("no embedding table to write");
  const auto& table = *contents.table;

  // Sort keys into shards first: a bad row is refused before anything is written.
  std::vector<std::vector<uint64_t>> shard_keys(num_shards);
  for (const auto& [key, row] : table) {
    if (row.size() != static_cast<size_t>(dim)) {
      return InvalidArgumentError("the row of key " + std::to_string(key) + " has " +
                                  std::to_string(row.size()) + " values, expected " +
                                  std::to_string(dim));
    }
    shard_keys[ShardOfKey(key, num_shards)].push_back(key);
  }
  for (auto& keys : shard_keys) std::sort(keys.begin(), keys.end());

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
  manifest.clear_shards();
  SnapshotHasher snapshot;
  snapshot.UpdateU64(static_cast<uint64_t>(dim));
  snapshot.UpdateU64(static_cast<uint64_t>(num_shards));
  for (int shard = 0; shard < num_shards; ++shard) {
    const std::string name = ShardDirName(shard, num_shards);
    const std::string path = JoinPath(dir, name);
    IAK_RETURN_IF_ERROR(RemoveIfPresent(path));
    uint64_t checksum = 0;
    IAK_RETURN_IF_ERROR(WriteShard(path, shard_keys[shard], table, dim, &checksum));
    proto::ShardInfo* info = manifest.add_shards();
    info->set_index(shard);
    info->set_path(name);
    info->set_num_rows(shard_keys[shard].size());
    info->set_checksum(checksum);
    snapshot.UpdateU64(shard_keys[shard].size());
    snapshot.UpdateU64(checksum);
  }

  IAK_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir, kDenseFileName), contents.dense_blob));
  SnapshotHasher dense;
  dense.Update(contents.dense_blob.data(), contents.dense_blob.size());
  manifest.set_dense_file(kDenseFileName);
  manifest.set_dense_checksum(dense.Digest());
  snapshot.UpdateU64(dense.Digest());
  manifest.set_snapshot_id(HexDigest(snapshot.Digest()));
  manifest.set_created_at(UtcNow());
  return WriteManifest(dir, manifest);
}

}  // namespace iak::embedding
