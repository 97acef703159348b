#include "embedding/snapshot_stream_writer.h"

#include <glog/logging.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>

#include "common/file_util.h"
#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "embedding/snapshot_format.h"

namespace iak::embedding {
namespace {

namespace fs = std::filesystem;

constexpr int kRowsPerBatch = 4096;
// Memtable of one shard: large enough for few flushes, bounded over all
// shards so a 64-shard write does not take gigabytes.
constexpr uint64_t kMaxWriteBuffer = uint64_t{64} << 20;
constexpr uint64_t kMinWriteBuffer = uint64_t{8} << 20;
constexpr uint64_t kAllWriteBuffers = uint64_t{256} << 20;

Status RemoveIfPresent(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IoError("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

struct SnapshotStreamWriter::Shard {
  std::string path;
  std::string name;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteBatch batch;
  uint64_t rows = 0;
  bool in_order = true;  // every row so far came in increasing key order
  uint64_t last_key = 0;
  SnapshotHasher hasher;  // over the rows so far, valid while in_order
  uint64_t checksum = 0;  // set by FinishShard
};

SnapshotStreamWriter::SnapshotStreamWriter(std::string dir, SnapshotStreamOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      row_bytes_(EncodedRowBytes(options_.embedding_dim, options_.dtype)),
      encoded_(row_bytes_, '\0') {}

SnapshotStreamWriter::~SnapshotStreamWriter() = default;

StatusOr<std::unique_ptr<SnapshotStreamWriter>> SnapshotStreamWriter::Open(
    const std::string& dir, SnapshotStreamOptions options) {
  const int dim = options.embedding_dim;
  const int num_shards = options.num_shards;
  if (dim <= 0) return InvalidArgumentError("embedding_dim must be positive, got " + std::to_string(dim));
  if (num_shards <= 0) {
    return InvalidArgumentError("num_shards must be positive, got " + std::to_string(num_shards));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create model directory " + dir + ": " + ec.message());
  const std::string manifest_path = ManifestPath(dir);
  if (fs::exists(manifest_path, ec) && !options.overwrite) {
    return Status(StatusCode::kAlreadyExists,
                  dir + " already holds a model (" + manifest_path +
                      "); choose another directory or allow overwriting");
  }
  // From here on the directory is incomplete: no manifest until Finish().
  IAK_RETURN_IF_ERROR(RemoveIfPresent(manifest_path));

  std::unique_ptr<SnapshotStreamWriter> writer(new SnapshotStreamWriter(dir, std::move(options)));
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.error_if_exists = true;
  // No compaction while rows arrive (in any order); Finish() compacts once.
  db_options.PrepareForBulkLoad();
  db_options.write_buffer_size = static_cast<size_t>(
      std::clamp(kAllWriteBuffers / static_cast<uint64_t>(num_shards), kMinWriteBuffer,
                 kMaxWriteBuffer));
  db_options.max_write_buffer_number = 2;
  // Rows arrive in random key order: a skiplist memtable pays a cache miss
  // per level on every insert (most of the write time at 10^6 rows); a
  // vector memtable appends and sorts once at flush.
  db_options.memtable_factory.reset(new rocksdb::VectorRepFactory);
  db_options.allow_concurrent_memtable_write = false;
  for (int index = 0; index < num_shards; ++index) {
    auto shard = std::make_unique<Shard>();
    shard->name = ShardDirName(index, num_shards);
    shard->path = JoinPath(dir, shard->name);
    IAK_RETURN_IF_ERROR(RemoveIfPresent(shard->path));
    rocksdb::DB* raw_db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, shard->path, &raw_db);
    if (!s.ok()) return IoError("cannot create embedding shard " + shard->path + ": " + s.ToString());
    shard->db.reset(raw_db);
    writer->shards_.push_back(std::move(shard));
  }
  return writer;
}

Status SnapshotStreamWriter::Add(uint64_t key, const float* row) {
  Status encode = EncodeRow(row, options_.embedding_dim, options_.dtype, encoded_.data());
  if (!encode.ok()) {
    return InvalidArgumentError("cannot store the row of key " + std::to_string(key) + " as " +
                                RowDtypeName(options_.dtype) + ": " + encode.message());
  }
  return AddEncoded(key, encoded_.data());
}

Status SnapshotStreamWriter::AddEncoded(uint64_t key, const char* row) {
  CHECK(!finished_) << "SnapshotStreamWriter::AddEncoded after Finish";
  Shard& shard = *shards_[ShardOfKey(key, options_.num_shards)];
  if (shard.in_order && shard.rows > 0 && key <= shard.last_key) {
    if (key == shard.last_key) {
      return InvalidArgumentError("key " + std::to_string(key) + " appears twice");
    }
    shard.in_order = false;  // hashed by a read-back pass at Finish()
  }
  if (shard.in_order) {
    shard.hasher.UpdateU64(key);
    shard.hasher.Update(row, row_bytes_);
  }
  shard.last_key = key;
  ++shard.rows;
  ++rows_added_;
  char key_bytes[8];
  EncodeShardKey(key, key_bytes);
  rocksdb::Status s = shard.batch.Put(rocksdb::Slice(key_bytes, 8), rocksdb::Slice(row, row_bytes_));
  if (s.ok() && shard.batch.Count() >= kRowsPerBatch) {
    rocksdb::WriteOptions write_options;
    // The snapshot is only valid once flushed and its manifest written; a
    // crash before that loses nothing worth a WAL.
    write_options.disableWAL = true;
    s = shard.db->Write(write_options, &shard.batch);
    shard.batch.Clear();
  }
  if (!s.ok()) return IoError("cannot write embedding shard " + shard.path + ": " + s.ToString());
  return Status::Ok();
}

Status SnapshotStreamWriter::FinishShard(Shard* shard) {
  rocksdb::WriteOptions write_options;
  write_options.disableWAL = true;
  rocksdb::Status s = shard->db->Write(write_options, &shard->batch);
  shard->batch.Clear();
  if (s.ok()) s = shard->db->Flush(rocksdb::FlushOptions());
  if (s.ok()) s = shard->db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr);
  if (!s.ok()) return IoError("cannot flush embedding shard " + shard->path + ": " + s.ToString());
  if (shard->in_order) {
    shard->checksum = shard->hasher.Digest();
  } else {
    // Rows came in another order: hash them in key order, as readers do.
    SnapshotHasher hasher;
    uint64_t stored = 0;
    rocksdb::ReadOptions read_options;
    read_options.fill_cache = false;
    read_options.readahead_size = 4 << 20;
    std::unique_ptr<rocksdb::Iterator> it(shard->db->NewIterator(read_options));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      hasher.UpdateU64(DecodeShardKey(it->key().data()));
      hasher.Update(it->value().data(), it->value().size());
      ++stored;
    }
    if (!it->status().ok()) {
      return IoError("cannot read back embedding shard " + shard->path + ": " +
                     it->status().ToString());
    }
    it.reset();
    if (stored != shard->rows) {
      return InvalidArgumentError(std::to_string(shard->rows - stored) +
                                  " key(s) were given more than once (" +
                                  std::to_string(shard->rows) + " rows for " +
                                  std::to_string(stored) + " distinct keys in " + shard->name +
                                  "); give each key one row");
    }
    shard->checksum = hasher.Digest();
  }
  s = shard->db->Close();
  shard->db.reset();
  if (!s.ok()) return IoError("cannot close embedding shard " + shard->path + ": " + s.ToString());
  return Status::Ok();
}

StatusOr<proto::ModelManifest> SnapshotStreamWriter::Finish() {
  CHECK(!finished_) << "SnapshotStreamWriter::Finish called twice";
  finished_ = true;
  const int dim = options_.embedding_dim;
  const int num_shards = options_.num_shards;
  proto::ModelManifest manifest = options_.base_manifest;
  manifest.set_format(kModelFormat);
  manifest.set_embedding_dim(dim);
  manifest.set_num_shards(num_shards);
  manifest.set_row_dtype(RowDtypeName(options_.dtype));
  manifest.clear_shards();
  SnapshotHasher snapshot;
  snapshot.UpdateU64(static_cast<uint64_t>(dim));
  snapshot.UpdateU64(static_cast<uint64_t>(num_shards));
  // float32 snapshots keep the ids they had before quantisation existed.
  if (options_.dtype != RowDtype::kFloat32) {
    snapshot.UpdateU64(100 + static_cast<uint64_t>(options_.dtype));
  }
  for (int index = 0; index < num_shards; ++index) {
    Shard& shard = *shards_[index];
    IAK_RETURN_IF_ERROR(FinishShard(&shard));
    proto::ShardInfo* info = manifest.add_shards();
    info->set_index(index);
    info->set_path(shard.name);
    info->set_num_rows(shard.rows);
    info->set_checksum(shard.checksum);
    snapshot.UpdateU64(shard.rows);
    snapshot.UpdateU64(shard.checksum);
  }
  IAK_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir_, kDenseFileName), options_.dense_blob));
  SnapshotHasher dense;
  dense.Update(options_.dense_blob.data(), options_.dense_blob.size());
  manifest.set_dense_file(kDenseFileName);
  manifest.set_dense_checksum(dense.Digest());
  snapshot.UpdateU64(dense.Digest());
  manifest.set_snapshot_id(HexDigest(snapshot.Digest()));
  manifest.set_created_at(ManifestTimestampNow());
  IAK_RETURN_IF_ERROR(WriteManifest(dir_, manifest));
  return manifest;
}

}  // namespace iak::embedding
