// A model directory as one value (manifest + verified dense weights), and
// LocalEmbeddingTable: all of its embedding shards opened in one process, for
// evaluation and single-process tools (distributed jobs use ps/ instead).
//
// Thread-safety: both are immutable once loaded; any number of threads may read.
#ifndef IAK_EMBEDDING_MODEL_DIRECTORY_H_
#define IAK_EMBEDDING_MODEL_DIRECTORY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/embedding_shard.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

struct ModelDirectory {
  std::string path;
  proto::ModelManifest manifest;
  std::string dense_blob;  // the dense weights, checksum verified
};

// Reads the manifest of `dir` and its dense weights.
// NotFound / InvalidArgument / IoError: as ReadManifest. DataLoss (naming the
// file and what to do): the dense file is missing, or its checksum differs.
[[nodiscard]] StatusOr<ModelDirectory> LoadModelDirectory(const std::string& dir);

class LocalEmbeddingTable {
 public:
  // Opens and verifies every shard of `model`; errors as EmbeddingShard::Open.
  [[nodiscard]] static StatusOr<std::unique_ptr<LocalEmbeddingTable>> Open(
      const ModelDirectory& model);

  // The row of `key` (dim() floats, valid while this table lives) or nullptr.
  const float* Find(uint64_t key) const;

  // Copies rows of keys[0..n) to rows_out (n * dim() floats); absent keys get
  // zero rows. Returns how many were absent.
  uint64_t Lookup(const uint64_t* keys, size_t n, float* rows_out) const;

  int dim() const { return dim_; }
  int num_shards() const { return static_cast<int>(shards_.size()); }
  size_t num_rows() const;

 private:
  LocalEmbeddingTable() = default;

  int dim_ = 0;
  std::vector<std::unique_ptr<EmbeddingShard>> shards_;
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_MODEL_DIRECTORY_H_
