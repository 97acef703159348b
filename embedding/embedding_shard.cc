#include "embedding/embedding_shard.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "embedding/shard_scan.h"
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

uint64_t EmbeddingShard::InMemoryBytes(uint64_t num_rows, size_t row_bytes) {
  // FrozenKeyIndex: a power of two >= 2 * rows (at least 16) slots of 16 bytes.
  uint64_t slots = 16;
  while (slots < 2 * num_rows) slots <<= 1;
  return num_rows * row_bytes + slots * 16;
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
  const int dim = manifest.embedding_dim();
  StatusOr<RowDtype> dtype = ParseRowDtype(manifest.row_dtype());
  if (!dtype.ok()) return dtype.status().WithContext("model manifest of " + model_dir);
  const size_t row_bytes = EncodedRowBytes(dim, *dtype);
  if (info.num_rows() >= FrozenKeyIndex::kMaxRows) {
    return ShardDataLoss(directory, "the manifest claims " + std::to_string(info.num_rows()) +
                                        " rows, more than one shard can hold");
  }
  const bool from_disk =
      load_options.memory_budget_bytes > 0 &&
      InMemoryBytes(info.num_rows(), load_options.decode_to_float
                                         ? EncodedRowBytes(dim, RowDtype::kFloat32)
                                         : row_bytes) > load_options.memory_budget_bytes;
  ShardDbOptions db_options;
  if (from_disk) db_options.block_cache_bytes = load_options.block_cache_bytes;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db,
                       OpenShardDb(model_dir, manifest, shard, db_options));

  std::unique_ptr<EmbeddingShard> result(new EmbeddingShard(shard, dim, *dtype, directory));
  result->num_rows_ = info.num_rows();
  if (from_disk) {
    // Verified in full (a pass that does not fill the cache), then served by
    // point reads: decoding to float is left to the reader.
    IAK_RETURN_IF_ERROR(ScanShard(db.get(), model_dir, manifest, shard,
                                  [](uint64_t, const char*) {}));
    result->disk_ = std::make_unique<DiskRowReader>(std::move(db), directory, row_bytes);
    return result;
  }
  // Sized by what the shard holds, not by the manifest's claim (which the
  // scan checks); grown if RocksDB's estimate was low. ScanShard stops before
  // a row beyond the manifest's count, so capacity never exceeds it. When
  // the claim is within the estimate (always, for an intact shard) the index
  // is built as rows arrive; otherwise from a key list after the scan.
  uint64_t capacity = ShardRowsToReserve(db.get(), info.num_rows());
  const bool index_as_read = capacity == info.num_rows();
  std::vector<uint64_t> keys;
  if (index_as_read) {
    result->index_.Reserve(static_cast<size_t>(capacity));
  } else {
    keys.reserve(capacity);
  }
  size_t loaded = 0;
  HugePageBuffer rows(static_cast<size_t>(capacity) * row_bytes);
  IAK_RETURN_IF_ERROR(ScanShard(db.get(), model_dir, manifest, shard,
                                [&](uint64_t key, const char* row) {
                                  if (loaded == capacity) {
                                    capacity = std::min<uint64_t>(
                                        info.num_rows(), std::max<uint64_t>(2 * capacity, 1024));
                                    HugePageBuffer bigger(static_cast<size_t>(capacity) *
                                                          row_bytes);
                                    if (loaded > 0) {
                                      std::memcpy(bigger.data(), rows.data(), loaded * row_bytes);
                                    }
                                    rows = std::move(bigger);
                                  }
                                  std::memcpy(rows.data() + loaded * row_bytes, row, row_bytes);
                                  ++loaded;
                                  // RocksDB's order is strictly increasing: keys are distinct.
                                  if (index_as_read) {
                                    result->index_.Insert(key);
                                  } else {
                                    keys.push_back(key);
                                  }
                                }));
  db.reset();
  if (!index_as_read) result->index_.Build(keys);
  std::vector<uint64_t>().swap(keys);
  if (load_options.decode_to_float && *dtype != RowDtype::kFloat32) {
    HugePageBuffer decoded(loaded * static_cast<size_t>(dim) * sizeof(float));
    DecodeRows(rows.data(), loaded, dim, *dtype, reinterpret_cast<float*>(decoded.data()));
    rows = std::move(decoded);
    result->dtype_ = RowDtype::kFloat32;
    result->row_bytes_ = EncodedRowBytes(dim, RowDtype::kFloat32);
  }
  result->rows_ = std::move(rows);
  return result;
}

uint64_t EmbeddingShard::LookupEncoded(const uint64_t* keys, size_t n, char* out) const {
  CHECK(in_memory()) << "LookupEncoded() on shard " << directory_
                     << " served from RocksDB; use ReadRows()";
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
