#include "embedding/manifest_io.h"

#include <google/protobuf/text_format.h>

#include <ctime>

#include "common/file_util.h"
#include "embedding/frozen_key_index.h"
#include "embedding/row_codec.h"
#include "embedding/snapshot_format.h"
#include "proto/text_format.h"

namespace iak::embedding {

std::string ManifestTimestampNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}
namespace {

}  // namespace

std::string ManifestPath(const std::string& model_dir) {
  return JoinPath(model_dir, kManifestFileName);
}

StatusOr<proto::ModelManifest> ReadManifest(const std::string& model_dir) {
  const std::string path = ManifestPath(model_dir);
  std::string text;
  Status read = ReadFileToString(path, &text);
  if (read.code() == StatusCode::kNotFound) {
    return NotFoundError("no model manifest at " + path +
                         " (is this a model directory? one without a manifest was never "
                         "completely written: re-run `iak pretrain`)");
  }
  IAK_RETURN_IF_ERROR(read);
  proto::ModelManifest manifest;
  proto::FirstTextFormatError error;
  if (!proto::ParseTextFormat(text, &manifest, &error)) {
    return InvalidArgumentError("cannot parse model manifest " + path +
                                (error.has_error() ? ":" + error.Located()
                                                   : ": not a valid ModelManifest"));
  }
  IAK_RETURN_IF_ERROR(ValidateManifest(manifest, path));
  return manifest;
}

Status ValidateManifest(const proto::ModelManifest& manifest, const std::string& path) {
  auto invalid = [&path](const std::string& what) {
    return InvalidArgumentError("invalid model manifest " + path + ": " + what);
  };
  if (manifest.format() != kModelFormat) {
    return invalid("format is \"" + manifest.format() + "\", expected \"" + kModelFormat + "\"");
  }
  if (manifest.embedding_dim() <= 0 || manifest.embedding_dim() > kMaxManifestEmbeddingDim) {
    return invalid("embedding_dim must be in [1, " + std::to_string(kMaxManifestEmbeddingDim) +
                   "], got " + std::to_string(manifest.embedding_dim()));
  }
  if (manifest.num_shards() <= 0) {
    return invalid("num_shards must be positive, got " + std::to_string(manifest.num_shards()));
  }
  if (manifest.shards_size() != manifest.num_shards()) {
    return invalid("num_shards is " + std::to_string(manifest.num_shards()) + " but " +
                   std::to_string(manifest.shards_size()) + " shards are listed");
  }
  for (int i = 0; i < manifest.shards_size(); ++i) {
    const proto::ShardInfo& shard = manifest.shards(i);
    if (shard.index() != i) {
      return invalid("shard listed at position " + std::to_string(i) + " has index " +
                     std::to_string(shard.index()));
    }
    if (shard.path().empty()) return invalid("shard " + std::to_string(i) + " has no path");
    if (shard.num_rows() >= FrozenKeyIndex::kMaxRows) {
      return invalid("shard " + std::to_string(i) + " claims " + std::to_string(shard.num_rows()) +
                     " rows, more than one shard can hold (" +
                     std::to_string(FrozenKeyIndex::kMaxRows - 1) + "); reshard the table");
    }
  }
  if (manifest.dense_file().empty()) return invalid("dense_file is empty");
  StatusOr<RowDtype> dtype = ParseRowDtype(manifest.row_dtype());
  if (!dtype.ok()) return invalid(dtype.status().message());
  if (manifest.snapshot_id().empty()) return invalid("snapshot_id is empty");
  return Status::Ok();
}

Status WriteManifest(const std::string& model_dir, const proto::ModelManifest& manifest) {
  const std::string path = ManifestPath(model_dir);
  IAK_RETURN_IF_ERROR(ValidateManifest(manifest, path));
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return InternalError("cannot print the model manifest for " + path);
  }
  return WriteFileAtomically(path, text);
}

}  // namespace iak::embedding
