#include "embedding/snapshot_tools.h"

#include <algorithm>
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

namespace {

Status CheckNewSnapshotDir(const std::string& dir, const std::string& out_dir, int num_shards) {
  if (num_shards <= 0) {
    return InvalidArgumentError("the shard count must be positive, got " +
                                std::to_string(num_shards));
  }
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec) && std::filesystem::equivalent(dir, out_dir, ec)) {
    return InvalidArgumentError("this writes a new snapshot: --out must differ from " + dir);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<proto::ModelManifest> ReshardSnapshot(const std::string& dir, const std::string& out_dir,
                                               int num_shards, bool overwrite,
                                               std::optional<RowDtype> target) {
  IAK_RETURN_IF_ERROR(CheckNewSnapshotDir(dir, out_dir, num_shards));
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

StatusOr<proto::ModelManifest> PromoteRows(const std::string& dir, const std::string& out_dir,
                                           const std::vector<uint64_t>& new_keys,
                                           const std::vector<float>& new_rows, int num_shards,
                                           bool overwrite) {
  IAK_RETURN_IF_ERROR(CheckNewSnapshotDir(dir, out_dir, num_shards));
  IAK_ASSIGN_OR_RETURN(ModelDirectory model, LoadModelDirectory(dir));
  const proto::ModelManifest& manifest = model.manifest;
  const int dim = manifest.embedding_dim();
  if (new_rows.size() != new_keys.size() * static_cast<size_t>(dim)) {
    return InvalidArgumentError("the rows to promote have " + std::to_string(new_rows.size()) +
                                " values, not " + std::to_string(new_keys.size()) + " rows of " +
                                std::to_string(dim) + " (the snapshot's width)");
  }
  IAK_ASSIGN_OR_RETURN(RowDtype dtype, ParseRowDtype(manifest.row_dtype()));
  const size_t row_bytes = EncodedRowBytes(dim, dtype);
  std::vector<uint64_t> keys;
  std::string encoded;
  IAK_RETURN_IF_ERROR(ReadEncodedRows(dir, manifest, dtype, &keys, &encoded));
  // The rows are of keys the snapshot lacks; one it holds means the rows
  // were trained over another snapshot.
  std::vector<uint64_t> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (uint64_t key : new_keys) {
    if (std::binary_search(sorted.begin(), sorted.end(), key)) {
      return FailedPreconditionError("key " + std::to_string(key) + " of the rows to promote is "
                                     "already in " + dir + "; promote rows onto the snapshot "
                                     "they were trained over");
    }
  }
  std::string row(row_bytes, '\0');
  for (size_t i = 0; i < new_keys.size(); ++i) {
    IAK_RETURN_IF_ERROR(EncodeRow(new_rows.data() + i * dim, dim, dtype, row.data())
                            .WithContext("promoted key " + std::to_string(new_keys[i])));
    keys.push_back(new_keys[i]);
    encoded.append(row);
  }
  SnapshotContents contents;
  contents.options.embedding_dim = dim;
  contents.options.num_shards = num_shards;
  contents.keys = &keys;
  contents.encoded_values = &encoded;
  contents.options.dtype = dtype;
  contents.options.dense_blob = std::move(model.dense_blob);
  contents.options.base_manifest = manifest;
  contents.options.overwrite = overwrite;
  IAK_RETURN_IF_ERROR(WriteModelDirectory(out_dir, contents));
  return ReadManifest(out_dir);
}

}  // namespace iak::embedding
