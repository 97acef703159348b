// EmbeddingShard: one shard of a frozen embedding table, loaded from its
// RocksDB directory into memory (a FrozenKeyIndex over one contiguous float
// array) and verified against the manifest before it serves a single row.
//
// Thread-safety: immutable after Open(); any number of threads may read.
#ifndef IAK_EMBEDDING_EMBEDDING_SHARD_H_
#define IAK_EMBEDDING_EMBEDDING_SHARD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/frozen_key_index.h"
#include "proto/iak.pb.h"

namespace iak::embedding {

class EmbeddingShard {
 public:
  // Opens shard `shard` of the model in `model_dir` (described by `manifest`,
  // already validated, e.g. by ReadManifest) read-only and loads it.
  // InvalidArgument: `shard` out of range. NotFound: the shard directory is
  // missing. DataLoss (naming the directory and what to do): a key or row of
  // the wrong size, a row count or checksum that differs from the manifest,
  // or a RocksDB corruption. IoError: RocksDB could not be opened or read.
  [[nodiscard]] static StatusOr<std::unique_ptr<EmbeddingShard>> Open(
      const std::string& model_dir, const proto::ModelManifest& manifest, int shard);

  // The row of `key` (dim() floats, valid as long as this shard lives), or
  // nullptr if the key is not in this shard.
  const float* Find(uint64_t key) const {
    const uint32_t row = index_.Find(key);
    return row == FrozenKeyIndex::kAbsent ? nullptr : rows_.data() + size_t{row} * dim_;
  }

  // Copies the rows of keys[0..n) to rows_out (n * dim() floats, caller-owned);
  // an absent key gets a zero row. Returns how many keys were absent.
  uint64_t Lookup(const uint64_t* keys, size_t n, float* rows_out) const;

  size_t num_rows() const { return index_.size(); }
  int dim() const { return dim_; }
  int shard() const { return shard_; }
  const std::string& directory() const { return directory_; }

 private:
  EmbeddingShard(int shard, int dim, std::string directory)
      : shard_(shard), dim_(dim), directory_(std::move(directory)) {}

  int shard_;
  int dim_;
  std::string directory_;
  FrozenKeyIndex index_;
  std::vector<float> rows_;  // num_rows() * dim_, in key order
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_EMBEDDING_SHARD_H_
