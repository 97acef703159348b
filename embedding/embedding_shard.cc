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

// Keys per pipeline stage of LookupEncoded: the slots of one chunk are
// resolved (and its rows prefetched) while the previous chunk's rows are
// copied, so ~kLookupChunk misses are in flight at once.
constexpr size_t kLookupChunk = 64;

void PrefetchRow(const char* row, size_t row_bytes) {
  __builtin_prefetch(row);
  // A row that straddles a cache line needs its second line too.
  __builtin_prefetch(row + row_bytes - 1);
}

}  // namespace

StatusOr<std::unique_ptr<EmbeddingShard>> EmbeddingShard::Open(
    const std::string& model_dir, const proto::ModelManifest& manifest, int shard) {
  return Open(model_dir, manifest, shard, LoadOptions());
}

StatusOr<std::unique_ptr<EmbeddingShard>> EmbeddingShard::Open(
    const std::string& model_dir, const proto::ModelManifest& manifest, int shard,
    const LoadOptions& load_options) {
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
  StatusOr<RowDtype> dtype = ParseRowDtype(manifest.row_dtype());
  if (!dtype.ok()) return dtype.status().WithContext("model manifest of " + model_dir);
  const size_t row_bytes = EncodedRowBytes(dim, *dtype);
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

  std::unique_ptr<EmbeddingShard> result(new EmbeddingShard(shard, dim, *dtype, directory));
  std::vector<uint64_t> keys;
  keys.reserve(info.num_rows());
  HugePageBuffer rows(static_cast<size_t>(info.num_rows()) * row_bytes);
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
                       std::to_string(row_bytes) + " (dim " + std::to_string(dim) + ", " +
                       RowDtypeName(*dtype) + ")");
    }
    if (keys.size() >= info.num_rows()) {
      return data_loss("it holds more rows than the " + std::to_string(info.num_rows()) +
                       " in the manifest");
    }
    hasher.UpdateU64(k);
    hasher.Update(value.data(), value.size());
    std::memcpy(rows.data() + keys.size() * row_bytes, value.data(), row_bytes);
    keys.push_back(k);
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
  if (load_options.decode_to_float && *dtype != RowDtype::kFloat32) {
    HugePageBuffer decoded(keys.size() * static_cast<size_t>(dim) * sizeof(float));
    DecodeRows(rows.data(), keys.size(), dim, *dtype, reinterpret_cast<float*>(decoded.data()));
    rows = std::move(decoded);
    result->dtype_ = RowDtype::kFloat32;
    result->row_bytes_ = EncodedRowBytes(dim, RowDtype::kFloat32);
  }
  result->rows_ = std::move(rows);
  return result;
}

uint64_t EmbeddingShard::LookupEncoded(const uint64_t* keys, size_t n, char* out) const {
  // A three-stage software pipeline over chunks of kLookupChunk keys: the
  // index slots of chunk c+2 are prefetched, chunk c+1 is resolved to row
  // numbers (its slots now cached) and its rows prefetched, and the rows of
  // chunk c (now cached) are copied. Every miss is issued ~2 chunks before it
  // is needed, so dozens overlap instead of being paid one by one.
  uint64_t missing = 0;
  uint32_t slots[2][kLookupChunk];
  const char* base = rows_.data();
  const size_t row_bytes = row_bytes_;
  const size_t chunks = (n + kLookupChunk - 1) / kLookupChunk;
  auto chunk_size = [&](size_t c) { return std::min(kLookupChunk, n - c * kLookupChunk); };
  auto prefetch_slots = [&](size_t c) {
    const uint64_t* k = keys + c * kLookupChunk;
    for (size_t i = 0, m = chunk_size(c); i < m; ++i) index_.Prefetch(k[i]);
  };
  auto resolve = [&](size_t c) {
    const uint64_t* k = keys + c * kLookupChunk;
    uint32_t* rows = slots[c & 1];
    for (size_t i = 0, m = chunk_size(c); i < m; ++i) {
      rows[i] = index_.Find(k[i]);
      if (rows[i] != FrozenKeyIndex::kAbsent) {
        PrefetchRow(base + size_t{rows[i]} * row_bytes, row_bytes);
      }
    }
  };
  if (chunks > 0) prefetch_slots(0);
  if (chunks > 1) prefetch_slots(1);
  if (chunks > 0) resolve(0);
  for (size_t c = 0; c < chunks; ++c) {
    if (c + 2 < chunks) prefetch_slots(c + 2);
    if (c + 1 < chunks) resolve(c + 1);
    const uint32_t* rows = slots[c & 1];
    char* dst = out + c * kLookupChunk * row_bytes;
    for (size_t i = 0, m = chunk_size(c); i < m; ++i, dst += row_bytes) {
      if (rows[i] == FrozenKeyIndex::kAbsent) {
        std::memset(dst, 0, row_bytes);
        ++missing;
      } else {
        std::memcpy(dst, base + size_t{rows[i]} * row_bytes, row_bytes);
      }
    }
  }
  return missing;
}

}  // namespace iak::embedding
