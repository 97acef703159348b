// SnapshotStreamWriter: writes a model directory (snapshot_format.h) from
// rows handed over one at a time, in any order, holding none of them: each
// row goes straight into its shard's RocksDB (ShardOfKey), through a bounded
// write batch and memtable. This is how tables larger than memory are
// written (`iak snapshot import` of an .npy, `iak snapshot synth`, reshard);
// WriteModelDirectory is the same writer fed from memory.
//
// Shard checksums are over the rows in key order (as every reader checks
// them). A shard whose rows arrive in increasing key order is hashed as they
// arrive; any other shard is hashed by one read-back pass at Finish(). A key
// added twice is refused: named when its shard's rows came in order, counted
// otherwise (RocksDB keeps one row per key, so only the count shows it).
//
// The manifest is written last and atomically by Finish(): until then the
// directory has no manifest and every reader refuses it. Bulk-load settings
// (no compaction while writing, one full compaction at Finish) make each
// shard one sorted run, the layout point reads are fastest on.
//
// Thread-safety: not thread-safe; one writer per directory.
#ifndef IAK_EMBEDDING_SNAPSHOT_STREAM_WRITER_H_
#define IAK_EMBEDDING_SNAPSHOT_STREAM_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/row_codec.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

struct SnapshotStreamOptions {
  // Floats per row handed to Add(); must be positive.
  int embedding_dim = 0;
  // Shards to write. Default 1.
  int num_shards = 1;
  // How rows are stored (and later served); see row_codec.h. Default float32.
  RowDtype dtype = RowDtype::kFloat32;
  // The dense (MLP) weights, opaque to this library.
  std::string dense_blob;
  // fields, bottom/tower hidden sizes, num_tasks, data_description filled by
  // the caller; format, dim, shards, dense file, checksums, snapshot id and
  // created_at are (over)written by Finish().
  proto::ModelManifest base_manifest;
  // Replace a complete model already in the directory. Default: refuse.
  bool overwrite = false;
};

class SnapshotStreamWriter {
 public:
  // Creates `dir` if needed, removes its manifest and the shard directories
  // about to be written, and opens one RocksDB per shard. InvalidArgument: dim
  // or shard count not positive. AlreadyExists: `dir` holds a manifest and
  // overwrite is false. IoError: a directory or RocksDB cannot be made.
  [[nodiscard]] static StatusOr<std::unique_ptr<SnapshotStreamWriter>> Open(
      const std::string& dir, SnapshotStreamOptions options);
  ~SnapshotStreamWriter();
  SnapshotStreamWriter(const SnapshotStreamWriter&) = delete;
  SnapshotStreamWriter& operator=(const SnapshotStreamWriter&) = delete;

  // Adds the row of `key`: embedding_dim floats, encoded as the dtype.
  // InvalidArgument naming the key when the dtype cannot represent a value
  // (row_codec.h); IoError when RocksDB cannot write.
  [[nodiscard]] Status Add(uint64_t key, const float* row);
  // Adds a row already encoded as the dtype (EncodedRowBytes bytes), stored
  // byte for byte. IoError when RocksDB cannot write.
  [[nodiscard]] Status AddEncoded(uint64_t key, const char* row);

  // Flushes and compacts every shard, checks the row counts (duplicates),
  // writes the dense file and then the manifest; returns the manifest.
  // InvalidArgument: a key was added twice. IoError: a write failed (the
  // directory then has no manifest). Call once; nothing may be added after.
  [[nodiscard]] StatusOr<proto::ModelManifest> Finish();

  uint64_t rows_added() const { return rows_added_; }

 private:
  struct Shard;
  SnapshotStreamWriter(std::string dir, SnapshotStreamOptions options);
  [[nodiscard]] Status FinishShard(Shard* shard);

  std::string dir_;
  SnapshotStreamOptions options_;
  size_t row_bytes_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::string encoded_;  // scratch row for Add()
  uint64_t rows_added_ = 0;
  bool finished_ = false;
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SNAPSHOT_STREAM_WRITER_H_
