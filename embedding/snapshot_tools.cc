#include "embedding/snapshot_tools.h"

#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/row_codec.h"
#include "embedding/shard_scan.h"
#include "embedding/snapshot_format.h"
#include "embedding/snapshot_stream_writer.h"

namespace iak::embedding {

bool SnapshotVerification::ok() const { return FirstError().ok(); }

Status SnapshotVerification::FirstError() const {
  for (const ShardVerification& shard : shards) {
    if (!shard.status.ok()) return shard.status;
  }
  return dense;
}

StatusOr<SnapshotVerification> VerifySnapshot(const std::string& dir) {
  SnapshotVerification result;
  IAK_ASSIGN_OR_RETURN(result.manifest, ReadManifest(dir));
  const proto::ModelManifest& manifest = result.manifest;
  for (int shard = 0; shard < manifest.num_shards(); ++shard) {
    ShardVerification check;
    check.index = shard;
    check.path = JoinPath(dir, manifest.shards(shard).path());
    StatusOr<std::unique_ptr<rocksdb::DB>> db = OpenShardDb(dir, manifest, shard);
    if (!db.ok()) {
      check.status = db.status();
    } else {
      uint64_t& rows = check.rows_read;
      check.status =
          ScanShard(db->get(), dir, manifest, shard, [&rows](uint64_t, const char*) { ++rows; });
    }
    result.shards.push_back(std::move(check));
  }
  StatusOr<ModelDirectory> model = LoadModelDirectory(dir);
  result.dense = model.ok() ? Status::Ok() : model.status();
  return result;
}

StatusOr<proto::ModelManifest> ReshardSnapshot(const std::string& dir, const std::string& out_dir,
                                               int num_shards, bool overwrite,
                                               std::optional<RowDtype> target) {
  if (num_shards <= 0) {
    return InvalidArgumentError("the shard count must be positive, got " +
                                std::to_string(num_shards));
  }
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec) && std::filesystem::equivalent(dir, out_dir, ec)) {
    return InvalidArgumentError("reshard writes a new snapshot: --out must differ from " + dir);
  }
  IAK_ASSIGN_OR_RETURN(ModelDirectory model, LoadModelDirectory(dir));
  const proto::ModelManifest& manifest = model.manifest;
  IAK_ASSIGN_OR_RETURN(RowDtype dtype, ParseRowDtype(manifest.row_dtype()));
  const int dim = manifest.embedding_dim();
  const bool recode = target.has_value() && *target != dtype;
  SnapshotStreamOptions options;
  options.embedding_dim = dim;
  options.num_shards = num_shards;
  options.dtype = recode ? *target : dtype;
  options.dense_blob = std::move(model.dense_blob);
  options.base_manifest = manifest;
  options.overwrite = overwrite;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotStreamWriter> writer,
                       SnapshotStreamWriter::Open(out_dir, std::move(options)));
  // Row by row from every input shard (checked as it is read) into the
  // writer: byte for byte, or decoded and re-encoded for another dtype.
  std::vector<float> decoded(static_cast<size_t>(dim));
  Status added = Status::Ok();
  for (int shard = 0; shard < manifest.num_shards(); ++shard) {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenShardDb(dir, manifest, shard));
    IAK_RETURN_IF_ERROR(ScanShard(db.get(), dir, manifest, shard,
                                  [&](uint64_t key, const char* row) {
                                    if (!added.ok()) return;
                                    if (!recode) {
                                      added = writer->AddEncoded(key, row);
                                      return;
                                    }
                                    DecodeRows(row, 1, dim, dtype, decoded.data());
                                    added = writer->Add(key, decoded.data());
                                  }));
    IAK_RETURN_IF_ERROR(added);
  }
  return writer->Finish();
}

}  // namespace iak::embedding
