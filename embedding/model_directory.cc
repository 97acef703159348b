#include "embedding/model_directory.h"

#include <cstring>
#include <utility>

#include "common/keys.h"
#include "common/file_util.h"
#include "embedding/manifest_io.h"
#include "embedding/snapshot_format.h"

namespace iak::embedding {

StatusOr<ModelDirectory> LoadModelDirectory(const std::string& dir) {
  ModelDirectory model;
  model.path = dir;
  IAK_ASSIGN_OR_RETURN(model.manifest, ReadManifest(dir));
  const std::string dense_path = JoinPath(dir, model.manifest.dense_file());
  Status read = ReadFileToString(dense_path, &model.dense_blob);
  if (read.code() == StatusCode::kNotFound) {
    return DataLossError("dense weights " + dense_path + " named in the manifest are missing; " +
                         kSnapshotRepairAdvice);
  }
  IAK_RETURN_IF_ERROR(read);
  SnapshotHasher hasher;
  hasher.Update(model.dense_blob.data(), model.dense_blob.size());
  if (hasher.Digest() != model.manifest.dense_checksum()) {
    return DataLossError("dense weights " + dense_path + " are damaged (" +
                         std::to_string(model.dense_blob.size()) + " bytes, checksum " +
                         HexDigest(hasher.Digest()) + " differs from the manifest's " +
                         HexDigest(model.manifest.dense_checksum()) + "); " +
                         kSnapshotRepairAdvice);
  }
  return model;
}

StatusOr<std::unique_ptr<LocalEmbeddingTable>> LocalEmbeddingTable::Open(
    const ModelDirectory& model) {
  std::unique_ptr<LocalEmbeddingTable> table(new LocalEmbeddingTable());
  table->dim_ = model.manifest.embedding_dim();
  for (int shard = 0; shard < model.manifest.num_shards(); ++shard) {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddingShard> opened,
                         EmbeddingShard::Open(model.path, model.manifest, shard,
                                              EmbeddingShard::LoadOptions{true}));
    table->shards_.push_back(std::move(opened));
  }
  return table;
}

const float* LocalEmbeddingTable::Find(uint64_t key) const {
  return shards_[ShardOfKey(key, num_shards())]->Find(key);
}

uint64_t LocalEmbeddingTable::Lookup(const uint64_t* keys, size_t n, float* rows_out) const {
  const size_t row_bytes = static_cast<size_t>(dim_) * sizeof(float);
  uint64_t missing = 0;
  for (size_t i = 0; i < n; ++i) {
    const float* row = Find(keys[i]);
    if (row == nullptr) {
      std::memset(rows_out + i * dim_, 0, row_bytes);
      ++missing;
    } else {
      std::memcpy(rows_out + i * dim_, row, row_bytes);
    }
  }
  return missing;
}

size_t LocalEmbeddingTable::num_rows() const {
  size_t total = 0;
  for (const auto& shard : shards_) total += shard->num_rows();
  return total;
}

}  // namespace iak::embedding
