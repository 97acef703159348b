// Opening a shard's RocksDB read-only and streaming its rows while checking
// them against the manifest: every key 8 bytes and owned by this shard
// (ShardOfKey), every row EncodedRowBytes(dim, dtype) bytes, the row count
// and the checksum equal to the manifest's, and RocksDB's own block checksums
// verified. EmbeddingShard::Open, `iak snapshot verify` and reshard all read
// shards through here, so a damaged shard is refused the same way everywhere.
//
// Thread-safety: pure functions; the DB returned may be read from any thread.
#ifndef IAK_EMBEDDING_SHARD_SCAN_H_
#define IAK_EMBEDDING_SHARD_SCAN_H_

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

struct ShardDbOptions {
  // LRU block cache for point reads (0 = RocksDB's default 8 MiB cache).
  uint64_t block_cache_bytes = 0;
};

// Opens shard `shard` of the model in `model_dir` read-only. InvalidArgument:
// shard out of range. NotFound: its directory is missing. DataLoss: RocksDB
// reports corruption. IoError: it cannot be opened.
[[nodiscard]] StatusOr<std::unique_ptr<rocksdb::DB>> OpenShardDb(
    const std::string& model_dir, const proto::ModelManifest& manifest, int shard,
    const ShardDbOptions& options = ShardDbOptions());

// Called for each row in key order with the row's encoded bytes (valid only
// during the call).
using ShardRowVisitor = std::function<void(uint64_t key, const char* row)>;

// Streams every row of `db` (shard `shard` of `manifest`) through `visit`,
// checking as described above. DataLoss naming the shard directory and what
// is wrong; IoError when RocksDB cannot be read. `visit` may have seen some
// rows before an error is found.
[[nodiscard]] Status ScanShard(rocksdb::DB* db, const std::string& model_dir,
                               const proto::ModelManifest& manifest, int shard,
                               const ShardRowVisitor& visit);

// The DataLoss a damaged shard is reported with.
// How many rows to reserve for reading a shard whose manifest claims
// `claimed_rows`: the claim, but never more than the shard's own estimate of
// its key count plus a margin, so a manifest that claims 50 million rows for
// a shard of 4,285 does not make the reader allocate gigabytes before the scan
// finds the mismatch. Readers grow their buffers if the estimate was low.
uint64_t ShardRowsToReserve(rocksdb::DB* db, uint64_t claimed_rows);

Status ShardDataLoss(const std::string& directory, const std::string& what);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SHARD_SCAN_H_
