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
#include "embedding/snapshot_writer.h"

namespace iak::embedding {

namespace {

// Every row of every shard, verified by ScanShard, as stored (`dtype`).
Status ReadEncodedRows(const std::string& dir, const proto::ModelManifest& manifest,
                       RowDtype dtype, std::vector<uint64_t>* keys, std::string* encoded) {
  const size_t row_bytes = EncodedRowBytes(manifest.embedding_dim(), dtype);
  for (int shard = 0; shard < manifest.num_shards(); ++shard) {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenShardDb(dir, manifest, shard));
    // Reserved by what the shard holds, not by the manifest's claim.
    const uint64_t reserve = ShardRowsToReserve(db.get(), manifest.shards(shard).num_rows());
    keys->reserve(keys->size() + reserve);
    encoded->reserve(encoded->size() + reserve * row_bytes);
    IAK_RETURN_IF_ERROR(ScanShard(db.get(), dir, manifest, shard,
                                  [&](uint64_t key, const char* row) {
                                    keys->push_back(key);
                                    encoded->append(row, row_bytes);
                                  }));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<RowTable> ReadSnapshotRows(const std::string& dir) {
  IAK_ASSIGN_OR_RETURN(proto::ModelManifest manifest, ReadManifest(dir));
  IAK_ASSIGN_OR_RETURN(RowDtype dtype, ParseRowDtype(manifest.row_dtype()));
  RowTable table;
  table.dim = manifest.embedding_dim();
  std::string encoded;
  IAK_RETURN_IF_ERROR(ReadEncodedRows(dir, manifest, dtype, &table.keys, &encoded));
  table.values.resize(table.keys.size() * static_cast<size_t>(table.dim));
  DecodeRows(encoded.data(), table.keys.size(), table.dim, dtype, table.values.data());
  return table;
}

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
  std::vector<uint64_t> keys;
  std::string encoded;
  IAK_RETURN_IF_ERROR(ReadEncodedRows(dir, manifest, dtype, &keys, &encoded));
  SnapshotContents contents;
  contents.embedding_dim = manifest.embedding_dim();
  contents.num_shards = num_shards;
  contents.keys = &keys;
  contents.encoded_values = &encoded;
  contents.dtype = dtype;
  std::vector<float> decoded;
  if (target.has_value() && *target != dtype) {
    decoded.resize(keys.size() * static_cast<size_t>(manifest.embedding_dim()));
    DecodeRows(encoded.data(), keys.size(), manifest.embedding_dim(), dtype, decoded.data());
    std::string().swap(encoded);
    contents.encoded_values = nullptr;
    contents.values = &decoded;
    contents.dtype = *target;
  }
  contents.dense_blob = std::move(model.dense_blob);
  contents.base_manifest = manifest;
  contents.overwrite = overwrite;
  IAK_RETURN_IF_ERROR(WriteModelDirectory(out_dir, contents));
  return ReadManifest(out_dir);
}

}  // namespace iak::embedding
