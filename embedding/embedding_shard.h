// EmbeddingShard: one shard of a frozen embedding table, loaded from its
// RocksDB directory into memory (a FrozenKeyIndex over one contiguous array of
// encoded rows, on huge pages) and verified against the manifest before it
// serves a single row. Rows stay in the snapshot's encoding (row_codec.h) so a
// PS serves quantised rows as-is; LoadOptions::decode_to_float turns them into
// float32 at load for in-process readers.
//
// A shard whose in-memory form (rows plus index) would exceed
// LoadOptions::memory_budget_bytes is verified the same way but then served
// by point reads on its RocksDB through an LRU block cache (DiskRowReader):
// same rows, less memory, slower lookups. Only ReadRows() works on such a
// shard; the pointer-returning Find*/Lookup* calls need in_memory().
//
// Thread-safety: immutable after Open(); any number of threads may read.
#ifndef IAK_EMBEDDING_EMBEDDING_SHARD_H_
#define IAK_EMBEDDING_EMBEDDING_SHARD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <glog/logging.h>

#include "common/status.h"
#include "embedding/disk_row_reader.h"
#include "embedding/frozen_key_index.h"
#include "embedding/huge_page_buffer.h"
#include "embedding/row_codec.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

class EmbeddingShard {
 public:
  struct LoadOptions {
    // Decode quantised rows to float32 at load (dtype() is then kFloat32).
    // Default: keep the snapshot's encoding, as a PS serves it.
    bool decode_to_float = false;
    // The most memory the in-memory form may take (rows + index, see
    // InMemoryBytes); a larger shard is served from RocksDB instead.
    // Default 0 = no limit.
    uint64_t memory_budget_bytes = 0;
    // The LRU block cache of a shard served from RocksDB. Default 64 MiB.
    uint64_t block_cache_bytes = uint64_t{64} << 20;
  };

  // Bytes the in-memory form of `num_rows` rows of `row_bytes` takes.
  static uint64_t InMemoryBytes(uint64_t num_rows, size_t row_bytes);

  // Opens shard `shard` of the model in `model_dir` (described by `manifest`,
  // already validated, e.g. by ReadManifest) read-only and loads it.
  // InvalidArgument: `shard` out of range. NotFound: the shard directory is
  // missing. DataLoss (naming the directory and what to do): a key or row of
  // the wrong size, a row count or checksum that differs from the manifest,
  // a truncated or corrupted file (RocksDB's own block checksums). IoError:
  // RocksDB could not be opened or read.
  [[nodiscard]] static StatusOr<std::unique_ptr<EmbeddingShard>> Open(
      const std::string& model_dir, const proto::ModelManifest& manifest, int shard);
  [[nodiscard]] static StatusOr<std::unique_ptr<EmbeddingShard>> Open(
      const std::string& model_dir, const proto::ModelManifest& manifest, int shard,
      const LoadOptions& options);

  // The encoded row of `key` (row_bytes() bytes, valid as long as this shard
  // lives), or nullptr if the key is not in this shard.
  const char* FindEncoded(uint64_t key) const {
    CHECK(in_memory()) << "FindEncoded() on shard " << directory_ << " served from RocksDB";
    const uint32_t row = index_.Find(key);
    return row == FrozenKeyIndex::kAbsent ? nullptr : rows_.data() + size_t{row} * row_bytes_;
  }

  // The row of `key` as dim() floats, or nullptr. Only for float32 shards
  // (CHECKed): open quantised ones with decode_to_float.
  const float* Find(uint64_t key) const {
    CHECK(dtype_ == RowDtype::kFloat32) << "Find() on a " << RowDtypeName(dtype_) << " shard";
    return reinterpret_cast<const float*>(FindEncoded(key));
  }

  // Copies the encoded rows of keys[0..n) to out (n * row_bytes() bytes,
  // caller-owned); an absent key gets zero bytes (a zero row in every
  // encoding). Lookups are software-pipelined: index slots and rows of keys
  // ahead are prefetched while earlier rows are copied, so the cache misses
  // of many keys overlap. Returns how many keys were absent.
  // In-memory shards only (CHECKed).
  uint64_t LookupEncoded(const uint64_t* keys, size_t n, char* out) const;

  // As LookupEncoded on any shard, in memory or served from RocksDB. Errors
  // (RocksDB path only): DataLoss / IoError as DiskRowReader::Lookup.
  [[nodiscard]] StatusOr<uint64_t> ReadRows(const uint64_t* keys, size_t n, char* out) const {
    if (disk_ != nullptr) return disk_->Lookup(keys, n, out);
    return LookupEncoded(keys, n, out);
  }

  // As LookupEncoded into n * dim() floats; float32 shards only (CHECKed).
  uint64_t Lookup(const uint64_t* keys, size_t n, float* rows_out) const {
    CHECK(dtype_ == RowDtype::kFloat32) << "Lookup() on a " << RowDtypeName(dtype_) << " shard";
    return LookupEncoded(keys, n, reinterpret_cast<char*>(rows_out));
  }

  size_t num_rows() const { return num_rows_; }
  // False when the shard is served from RocksDB (over its memory budget).
  bool in_memory() const { return disk_ == nullptr; }
  int dim() const { return dim_; }
  RowDtype dtype() const { return dtype_; }
  size_t row_bytes() const { return row_bytes_; }
  int shard() const { return shard_; }
  const std::string& directory() const { return directory_; }

 private:
  EmbeddingShard(int shard, int dim, RowDtype dtype, std::string directory)
      : shard_(shard),
        dim_(dim),
        dtype_(dtype),
        row_bytes_(EncodedRowBytes(dim, dtype)),
        directory_(std::move(directory)) {}

  int shard_;
  int dim_;
  RowDtype dtype_;
  size_t row_bytes_;
  std::string directory_;
  FrozenKeyIndex index_;
  size_t num_rows_ = 0;
  HugePageBuffer rows_;  // num_rows() * row_bytes_, in key order (in memory)
  std::unique_ptr<DiskRowReader> disk_;  // set instead when over the budget
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_EMBEDDING_SHARD_H_
