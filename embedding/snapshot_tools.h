// `iak snapshot verify` and `iak snapshot reshard`: whole-snapshot checks
// and rewrites on top of shard_scan.h.
//
// Thread-safety: pure functions over files.
#ifndef IAK_EMBEDDING_SNAPSHOT_TOOLS_H_
#define IAK_EMBEDDING_SNAPSHOT_TOOLS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/row_codec.h"
#include "embedding/row_table.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

struct ShardVerification {
  int index = 0;
  std::string path;      // the shard directory
  uint64_t rows_read = 0;  // rows seen before the end or the first fault
  Status status;         // OK, or DataLoss / NotFound / IoError naming the directory
};

struct SnapshotVerification {
  proto::ModelManifest manifest;
  std::vector<ShardVerification> shards;  // one per shard, in order
  Status dense;                           // the dense weights' check
  bool ok() const;
  // The first failure (a shard's, then the dense file's), or OK.
  Status FirstError() const;
};

// Re-reads every shard of the model in `dir` (all of it, RocksDB block
// checksums included) and its dense file, streaming: one row at a time,
// nothing kept but counts, so any table size verifies in bounded memory. A damaged shard does not stop the
// others from being checked. Errors only when the manifest cannot be read
// (as ReadManifest); damage is reported in the result.
[[nodiscard]] StatusOr<SnapshotVerification> VerifySnapshot(const std::string& dir);

// Rewrites the snapshot in `dir` with `num_shards` shards into `out_dir`:
// every row byte for byte (no re-quantisation), the same dtype, dense weights
// and model description. With `dtype` set to another dtype than the input's,
// rows are decoded to float32 and re-encoded as `dtype` instead (e.g. a
// float32 pre-trained model to fp16 or int8; within that dtype's bounds).
// Streams: every input shard is verified as it is read and its rows go
// straight to the output's shards (SnapshotStreamWriter), so memory stays
// bounded whatever the table size; a damaged input leaves out_dir without a
// manifest. Returns the new manifest. Errors: those of
// ReadManifest/LoadModelDirectory and ScanShard for the input,
// InvalidArgument for num_shards <= 0 or out_dir == dir, and those of
// WriteModelDirectory for the output.
[[nodiscard]] StatusOr<proto::ModelManifest> ReshardSnapshot(const std::string& dir,
                                                             const std::string& out_dir,
                                                             int num_shards, bool overwrite,
                                                             std::optional<RowDtype> dtype =
                                                                 std::nullopt);

// Writes into `out_dir` the snapshot in `dir` plus rows of keys it lacks
// (a fine-tuned domain's new-key rows, worker/new_key_rows.h): new_rows holds
// new_keys.size() rows of the snapshot's width, encoded in its dtype; dense
// weights and description are kept. FailedPrecondition naming the key when
// the snapshot already holds one of them; otherwise the errors of
// ReshardSnapshot.
[[nodiscard]] StatusOr<proto::ModelManifest> PromoteRows(const std::string& dir,
                                                         const std::string& out_dir,
                                                         const std::vector<uint64_t>& new_keys,
                                                         const std::vector<float>& new_rows,
                                                         int num_shards, bool overwrite);

// Every row of the snapshot in `dir`, decoded to float32, shard by shard in
// key order (each shard checked as `verify` checks it: DataLoss naming the
// shard). Holds the whole table in memory (the torch export's use).
[[nodiscard]] StatusOr<RowTable> ReadSnapshotRows(const std::string& dir);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SNAPSHOT_TOOLS_H_
