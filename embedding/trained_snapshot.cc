#include "embedding/trained_snapshot.h"

#include <google/protobuf/text_format.h>

#include <cmath>
#include <filesystem>
#include <regex>

#include "common/file_util.h"
#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_format.h"
#include "embedding/snapshot_writer.h"

namespace iak::embedding {
namespace {

namespace fs = std::filesystem;

constexpr char kInfoSuffix[] = ".trained.pbtxt";

StatusOr<proto::TrainedShardInfo> ReadInfo(const std::string& path) {
  std::string text;
  IAK_RETURN_IF_ERROR(ReadFileToString(path, &text));
  proto::TrainedShardInfo info;
  if (!google::protobuf::TextFormat::ParseFromString(text, &info)) {
    return DataLossError(path + " is not a valid TrainedShardInfo; rewrite that shard (restart "
                         "its trainable server) or remove the file");
  }
  return info;
}

// One trainable server per shard: far above any real cluster.
constexpr int kMaxTrainedShards = 1 << 16;

// The info files present: shard index -> info.
StatusOr<std::vector<std::optional<proto::TrainedShardInfo>>> ReadInfos(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFoundError(dir + " does not exist or is not a directory");
  }
  static const std::regex kName(R"(shard-(\d{1,9})-of-(\d{1,9})\.trained\.pbtxt)");
  std::vector<std::optional<proto::TrainedShardInfo>> infos;
  int num_shards = -1;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, kName)) continue;
    const int shard = std::stoi(match[1]);
    const int count = std::stoi(match[2]);
    // The count sizes the list below: a stray name must not make it huge.
    if (count > kMaxTrainedShards) {
      return FailedPreconditionError(entry.path().string() + ": " + std::to_string(count) +
                                     " shards, more than the " +
                                     std::to_string(kMaxTrainedShards) +
                                     " a trained snapshot can have; remove the stray file");
    }
    if (num_shards < 0) {
      num_shards = count;
      infos.resize(count);
    } else if (count != num_shards) {
      return FailedPreconditionError(dir + " holds trained shards of " +
                                     std::to_string(num_shards) + " and of " +
                                     std::to_string(count) +
                                     " shards; remove the stale ones (" + name + ")");
    }
    if (shard < 0 || shard >= count) {
      return FailedPreconditionError(entry.path().string() + ": shard " + std::to_string(shard) +
                                     " out of range");
    }
    IAK_ASSIGN_OR_RETURN(infos[shard], ReadInfo(entry.path().string()));
  }
  if (ec) return IoError("cannot list " + dir + ": " + ec.message());
  if (num_shards < 0) {
    return NotFoundError(dir + " holds no trained shard (no shard-*" + kInfoSuffix +
                         "); have the trainable servers written their shards?");
  }
  return infos;
}

}  // namespace

std::string TrainedShardInfoPath(const std::string& out_dir, int shard, int num_shards) {
  return JoinPath(out_dir, ShardDirName(shard, num_shards) + kInfoSuffix);
}

Status WriteTrainedShard(const std::string& out_dir, proto::TrainedShardInfo info,
                         const std::vector<uint64_t>& keys, const std::vector<float>& values) {
  const int num_shards = info.num_shards();
  const int shard = info.shard().index();
  const int dim = info.embedding_dim();
  if (num_shards <= 0 || shard < 0 || shard >= num_shards || dim <= 0) {
    return InvalidArgumentError("trained shard " + std::to_string(shard) + " of " +
                                std::to_string(num_shards) + " at dim " + std::to_string(dim) +
                                ": bad shape");
  }
  for (uint64_t key : keys) {
    if (ShardOfKey(key, num_shards) != shard) {
      return InvalidArgumentError("key " + std::to_string(key) + " belongs to shard " +
                                  std::to_string(ShardOfKey(key, num_shards)) + ", not to " +
                                  std::to_string(shard));
    }
  }
  std::error_code ec;
  if (fs::exists(ManifestPath(out_dir), ec)) {
    return Status(StatusCode::kAlreadyExists,
                  out_dir + " already holds a complete model (" + ManifestPath(out_dir) +
                      "); give the trainable servers another output_model_dir or remove it");
  }
  IAK_RETURN_IF_ERROR(CreateDirectories(out_dir));

  // The shard is written by the one snapshot writer into a staging model
  // directory (other shards empty there), then moved into place: its format
  // and checksum are exactly those of `iak pretrain`.
  const std::string staging = JoinPath(out_dir, ".staging-" + ShardDirName(shard, num_shards));
  fs::remove_all(staging, ec);
  SnapshotContents contents;
  contents.options.embedding_dim = dim;
  contents.options.num_shards = num_shards;
  contents.keys = &keys;
  contents.values = &values;
  contents.options.dtype = RowDtype::kFloat32;
  contents.options.overwrite = true;
  Status written = WriteModelDirectory(staging, contents);
  if (!written.ok()) {
    fs::remove_all(staging, ec);
    return written.WithContext("trained shard " + std::to_string(shard) + " of " + out_dir);
  }
  StatusOr<proto::ModelManifest> staged = ReadManifest(staging);
  if (!staged.ok()) return staged.status();
  const std::string name = ShardDirName(shard, num_shards);
  const std::string target = JoinPath(out_dir, name);
  fs::remove_all(target, ec);
  fs::rename(JoinPath(staging, name), target, ec);
  if (ec) return IoError("cannot move the trained shard into " + target + ": " + ec.message());
  fs::remove_all(staging, ec);

  *info.mutable_shard() = staged->shards(shard);
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(info, &text)) {
    return InternalError("cannot print the trained shard info of shard " + std::to_string(shard));
  }
  return WriteFileAtomically(TrainedShardInfoPath(out_dir, shard, num_shards), text);
}

StatusOr<std::vector<int>> MissingTrainedShards(const std::string& out_dir) {
  IAK_ASSIGN_OR_RETURN(auto infos, ReadInfos(out_dir));
  std::vector<int> missing;
  for (size_t i = 0; i < infos.size(); ++i) {
    if (!infos[i].has_value()) missing.push_back(static_cast<int>(i));
  }
  return missing;
}

StatusOr<proto::ModelManifest> FinalizeTrainedSnapshot(const std::string& out_dir,
                                                       const FinalizeOptions& options) {
  IAK_ASSIGN_OR_RETURN(auto infos, ReadInfos(out_dir));
  const int num_shards = static_cast<int>(infos.size());
  std::string missing;
  for (int i = 0; i < num_shards; ++i) {
    if (!infos[i].has_value()) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  }
  if (!missing.empty()) {
    return FailedPreconditionError(out_dir + ": shard(s) " + missing + " of " +
                                   std::to_string(num_shards) +
                                   " have not been written yet (their trainable servers have not "
                                   "finished); finalize once every server has stopped");
  }
  const proto::TrainedShardInfo& first = *infos[0];
  for (int i = 1; i < num_shards; ++i) {
    const proto::TrainedShardInfo& info = *infos[i];
    if (info.embedding_dim() != first.embedding_dim() ||
        info.source_snapshot_id() != first.source_snapshot_id()) {
      return FailedPreconditionError(
          out_dir + ": shard " + std::to_string(i) + " was trained from snapshot " +
          info.source_snapshot_id() + " at dim " + std::to_string(info.embedding_dim()) +
          " but shard 0 from " + first.source_snapshot_id() + " at dim " +
          std::to_string(first.embedding_dim()) + "; retrain the stale shard");
    }
  }
  const std::string source_dir =
      options.source_model_dir.empty() ? first.source_model_dir() : options.source_model_dir;
  StatusOr<ModelDirectory> source = LoadModelDirectory(source_dir);
  if (!source.ok()) {
    return source.status().WithContext("the source model of trained snapshot " + out_dir);
  }
  if (source->manifest.snapshot_id() != first.source_snapshot_id()) {
    return FailedPreconditionError(
        out_dir + " was trained from snapshot " + first.source_snapshot_id() + " but " +
        source_dir + " holds snapshot " + source->manifest.snapshot_id() +
        "; give the model the servers started from (--base_model)");
  }
  const std::string& dense_blob = options.dense_blob ? *options.dense_blob : source->dense_blob;
  IAK_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(out_dir, kDenseFileName), dense_blob));

  // The snapshot id as WriteModelDirectory computes it (float32 rows).
  proto::ModelManifest manifest = source->manifest;
  const int dim = first.embedding_dim();
  manifest.set_format(kModelFormat);
  manifest.set_embedding_dim(dim);
  manifest.set_num_shards(num_shards);
  manifest.set_row_dtype(RowDtypeName(RowDtype::kFloat32));
  manifest.clear_shards();
  SnapshotHasher snapshot;
  snapshot.UpdateU64(static_cast<uint64_t>(dim));
  snapshot.UpdateU64(static_cast<uint64_t>(num_shards));
  for (int i = 0; i < num_shards; ++i) {
    const proto::ShardInfo& shard = infos[i]->shard();
    *manifest.add_shards() = shard;
    snapshot.UpdateU64(shard.num_rows());
    snapshot.UpdateU64(shard.checksum());
  }
  SnapshotHasher dense;
  dense.Update(dense_blob.data(), dense_blob.size());
  manifest.set_dense_file(kDenseFileName);
  manifest.set_dense_checksum(dense.Digest());
  snapshot.UpdateU64(dense.Digest());
  manifest.set_snapshot_id(HexDigest(snapshot.Digest()));
  manifest.set_created_at(ManifestTimestampNow());
  manifest.set_data_description(source->manifest.data_description() + "; trained on the PS (" +
                                first.optimizer() + ", from snapshot " +
                                first.source_snapshot_id() + ")");
  IAK_RETURN_IF_ERROR(WriteManifest(out_dir, manifest));
  return manifest;
}

}  // namespace iak::embedding
