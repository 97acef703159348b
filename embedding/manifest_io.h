// Reading, validating and writing a model directory's MANIFEST.pbtxt
// (proto::ModelManifest in Protobuf text format). See snapshot_format.h.
#ifndef IAK_EMBEDDING_MANIFEST_IO_H_
#define IAK_EMBEDDING_MANIFEST_IO_H_

#include <string>

#include "common/status.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

// "<model_dir>/MANIFEST.pbtxt".
std::string ManifestPath(const std::string& model_dir);

// Reads and validates the manifest of `model_dir`.
// NotFound: no manifest (the directory is missing, or was never completely
// written). InvalidArgument: unparsable ("<path>:<line>:<column>: <error>")
// or invalid (see ValidateManifest). IoError: the file cannot be read.
[[nodiscard]] StatusOr<proto::ModelManifest> ReadManifest(const std::string& model_dir);

// The widest embedding row a manifest may declare (the base model's own
// limit, model/base_model.cc): checked before any row buffer is sized by it.
inline constexpr int kMaxManifestEmbeddingDim = 1 << 16;

// Checks format == "iak-model-v1", embedding_dim in [1, 65536], num_shards > 0
// and equal to the number of shards listed, shard i listed i-th with a path
// and fewer than FrozenKeyIndex::kMaxRows rows, a dense file and a snapshot
// id. InvalidArgument naming `path` (used in messages only). A shard's
// num_rows is only a claim: readers size their buffers by what the shard
// holds (ShardRowsToReserve) and ScanShard compares the two.
[[nodiscard]] Status ValidateManifest(const proto::ModelManifest& manifest,
                                      const std::string& path);

// The current UTC time as "YYYY-MM-DDTHH:MM:SSZ" (a manifest's created_at).
std::string ManifestTimestampNow();

// Validates `manifest` and writes it atomically to ManifestPath(model_dir).
[[nodiscard]] Status WriteManifest(const std::string& model_dir,
                                   const proto::ModelManifest& manifest);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_MANIFEST_IO_H_
