#include "embedding/shard_scan.h"

#include <rocksdb/cache.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <algorithm>
#include <filesystem>

#include "common/keys.h"
#include "embedding/row_codec.h"
#include "embedding/snapshot_format.h"

namespace iak::embedding {

Status ShardDataLoss(const std::string& directory, const std::string& what) {
  return DataLossError("embedding shard " + directory + " is damaged: " + what + "; " +
                       kSnapshotRepairAdvice);
}

uint64_t ShardRowsToReserve(rocksdb::DB* db, uint64_t claimed_rows) {
  uint64_t estimate = 0;
  if (!db->GetAggregatedIntProperty("rocksdb.estimate-num-keys", &estimate)) return 0;
  const uint64_t margin = estimate / 16 + 1024;
  return std::min(claimed_rows, estimate + margin);
}

StatusOr<std::unique_ptr<rocksdb::DB>> OpenShardDb(const std::string& model_dir,
                                                   const proto::ModelManifest& manifest,
                                                   int shard, const ShardDbOptions& db_options) {
  if (shard < 0 || shard >= manifest.shards_size()) {
    return InvalidArgumentError("shard " + std::to_string(shard) + " does not exist: the model in " +
                                model_dir + " has " + std::to_string(manifest.shards_size()) +
                                " shards");
  }
  const std::string directory = JoinPath(model_dir, manifest.shards(shard).path());
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) {
    return NotFoundError("shard directory " + directory + " of the model in " + model_dir +
                         " is missing; " + kSnapshotRepairAdvice);
  }
  rocksdb::Options options;
  options.create_if_missing = false;
  options.paranoid_checks = true;
  if (db_options.block_cache_bytes > 0) {
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(db_options.block_cache_bytes);
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  }
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status opened = rocksdb::DB::OpenForReadOnly(options, directory, &raw_db);
  if (!opened.ok()) {
    if (opened.IsCorruption()) return ShardDataLoss(directory, opened.ToString());
    return IoError("cannot open embedding shard " + directory + ": " + opened.ToString());
  }
  return std::unique_ptr<rocksdb::DB>(raw_db);
}

Status ScanShard(rocksdb::DB* db, const std::string& model_dir,
                 const proto::ModelManifest& manifest, int shard, const ShardRowVisitor& visit) {
  const proto::ShardInfo& info = manifest.shards(shard);
  const std::string directory = JoinPath(model_dir, info.path());
  auto data_loss = [&directory](const std::string& what) { return ShardDataLoss(directory, what); };
  const int dim = manifest.embedding_dim();
  const int num_shards = manifest.num_shards();
  StatusOr<RowDtype> dtype = ParseRowDtype(manifest.row_dtype());
  if (!dtype.ok()) return dtype.status().WithContext("model manifest of " + model_dir);
  const size_t row_bytes = EncodedRowBytes(dim, *dtype);

  SnapshotHasher hasher;
  uint64_t rows = 0;
  rocksdb::ReadOptions read_options;
  read_options.verify_checksums = true;
  read_options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (key.size() != 8) {
      return data_loss("a key of " + std::to_string(key.size()) + " bytes (expected 8)");
    }
    const uint64_t k = DecodeShardKey(key.data());
    if (value.size() != row_bytes) {
      return data_loss("the row of key " + std::to_string(k) + " has " +
                       std::to_string(value.size()) + " bytes, expected " +
                       std::to_string(row_bytes) + " (dim " + std::to_string(dim) + ", " +
                       RowDtypeName(*dtype) + ")");
    }
    if (ShardOfKey(k, num_shards) != shard) {
      return data_loss("key " + std::to_string(k) + " belongs to shard " +
                       std::to_string(ShardOfKey(k, num_shards)) + " of " +
                       std::to_string(num_shards) + ", not to this one");
    }
    if (rows >= info.num_rows()) {
      return data_loss("it holds more rows than the " + std::to_string(info.num_rows()) +
                       " in the manifest");
    }
    hasher.UpdateU64(k);
    hasher.Update(value.data(), value.size());
    visit(k, value.data());
    ++rows;
  }
  if (!it->status().ok()) {
    if (it->status().IsCorruption()) return data_loss(it->status().ToString());
    return IoError("cannot read embedding shard " + directory + ": " + it->status().ToString());
  }
  if (rows != info.num_rows()) {
    return data_loss("it holds " + std::to_string(rows) + " rows but the manifest says " +
                     std::to_string(info.num_rows()));
  }
  if (hasher.Digest() != info.checksum()) {
    return data_loss("its checksum " + HexDigest(hasher.Digest()) +
                     " differs from the manifest's " + HexDigest(info.checksum()));
  }
  return Status::Ok();
}

}  // namespace iak::embedding
