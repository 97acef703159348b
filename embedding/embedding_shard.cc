#include "embedding/embedding_shard.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "embedding/snapshot_format.h"

namespace iak::embedding {
namespace {

constexpr size_t kLookupChunk = 256;

}  // namespace

StatusOr<std::unique_ptr<EmbeddingShard>> EmbeddingShard::Open(
    const std::string& model_dir, const proto::ModelManifest& manifest, int shard) {
  if (shard < 0 || shard >= manifest.shards_size()) {
    return InvalidArgumentError("shard " + std::to_string(shard) + " does not exist: the model in " +
                                model_dir + " has " + std::to_string(manifest.shards_size()) +
                                " shards");
  }
  const proto::ShardInfo& info = manifest.shards(shard);
  const std::string directory = JoinPath(model_dir, info.path());
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) {
    return NotFoundError("shard directory " + directory + " of the model in " + model_dir +
                         " is missing; " + kSnapshotRepairAdvice);
  }
  auto data_loss = [&directory](const std::string& what) {
    return DataLossError("embedding shard " + directory + " is damaged: " + what + "; " +
                         kSnapshotRepairAdvice);
  };
  const int dim = manifest.embedding_dim();
  const size_t row_bytes = static_cast<size_t>(dim) * sizeof(float);
  if (info.num_rows() >= FrozenKeyIndex::kMaxRows) {
    return data_loss("the manifest claims " + std::to_string(info.num_rows()) +
                     " rows, more than one shard can hold");
  }

  rocksdb::Options options;
  options.create_if_missing = false;
  options.paranoid_checks = true;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status opened = rocksdb::DB::OpenForReadOnly(options, directory, &raw_db);
  if (!opened.ok()) {
    if (opened.IsCorruption()) return data_loss(opened.ToString());
    return IoError("cannot open embedding shard " + directory + ": " + opened.ToString());
  }
  std::unique_ptr<rocksdb::DB> db(raw_db);

  std::unique_ptr<EmbeddingShard> result(new EmbeddingShard(shard, dim, directory));
  std::vector<uint64_t> keys;
  keys.reserve(info.num_rows());
  result->rows_.reserve(static_cast<size_t>(info.num_rows()) * dim);
  SnapshotHasher hasher;
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
                       std::to_string(row_bytes) + " (dim " + std::to_string(dim) + ")");
    }
    if (keys.size() >= info.num_rows()) {
      return data_loss("it holds more rows than the " + std::to_string(info.num_rows()) +
                       " in the manifest");
    }
    hasher.UpdateU64(k);
    hasher.Update(value.data(), value.size());
    keys.push_back(k);
    const size_t offset = result->rows_.size();
    result->rows_.resize(offset + dim);
    std::memcpy(result->rows_.data() + offset, value.data(), row_bytes);
  }
  if (!it->status().ok()) {
    if (it->status().IsCorruption()) return data_loss(it->status().ToString());
    return IoError("cannot read embedding shard " + directory + ": " + it->status().ToString());
  }
  it.reset();
  if (keys.size() != info.num_rows()) {
    return data_loss("it holds " + std::to_string(keys.size()) + " rows but the manifest says " +
                     std::to_string(info.num_rows()));
  }
  if (hasher.Digest() != info.checksum()) {
    return data_loss("its checksum " + HexDigest(hasher.Digest()) +
                     " differs from the manifest's " + HexDigest(info.checksum()));
  }
  // RocksDB's order is strictly increasing, so the keys are distinct.
  result->index_.Build(keys);
  return result;
}

uint64_t EmbeddingShard::Lookup(const uint64_t* keys, size_t n, float* rows_out) const {
  const size_t row_bytes = static_cast<size_t>(dim_) * sizeof(float);
  uint64_t missing = 0;
  uint32_t rows[kLookupChunk];
  for (size_t start = 0; start < n; start += kLookupChunk) {
    const size_t count = std::min(kLookupChunk, n - start);
    index_.FindBatch(keys + start, count, rows);
    for (size_t i = 0; i < count; ++i) {
      float* out = rows_out + (start + i) * dim_;
      if (rows[i] == FrozenKeyIndex::kAbsent) {
        std::memset(out, 0, row_bytes);
        ++missing;
      } else {
        std::memcpy(out, rows_.data() + size_t{rows[i]} * dim_, row_bytes);
      }
    }
  }
  return missing;
}

}  // namespace iak::embedding
