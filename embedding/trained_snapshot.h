// Writing a NEW snapshot from trainable parameter servers (docs/trainable_ps.md):
// each server writes its own shard, and a finalize step writes the manifest
// once every shard is there.
//
//   <out>/shard-0000K-of-0000N/               shard K, a RocksDB DB written by
//                                             WriteModelDirectory (so its bytes
//                                             and checksum are exactly what
//                                             `iak pretrain` writes)
//   <out>/shard-0000K-of-0000N.trained.pbtxt  proto::TrainedShardInfo: its row
//                                             count, checksum, source snapshot
//   <out>/dense.bin, <out>/MANIFEST.pbtxt     written by FinalizeTrainedSnapshot
//
// Trained snapshots are always float32 (the PS trains fp32 rows; re-quantise
// with `iak snapshot reshard --dtype=...`). The dense weights are the source
// model's unless FinalizeOptions gives updated ones. Until the manifest is
// written the directory is incomplete and every reader refuses it.
//
// Thread-safety: pure functions over files. Servers of different shards may
// write into the same directory at once; two finalizers racing write the same
// manifest (atomically).
#ifndef IAK_EMBEDDING_TRAINED_SNAPSHOT_H_
#define IAK_EMBEDDING_TRAINED_SNAPSHOT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/model_manifest.pb.h"

namespace iak::embedding {

// "<out>/shard-0000K-of-0000N.trained.pbtxt".
std::string TrainedShardInfoPath(const std::string& out_dir, int shard, int num_shards);

// Writes shard `info.shard().index()` of a trained snapshot into `out_dir`
// (created if needed): rows keys[i] -> values[i*dim..), keys distinct and all
// owned by that shard (ShardOfKey). `info` carries num_shards, embedding_dim
// and the source (model dir, snapshot id, optimizer); its shard row count and
// checksum are filled here. Replaces a previous write of the same shard.
// InvalidArgument: bad shape, a duplicate or foreign key, a non-finite value.
// AlreadyExists: `out_dir` already holds a complete model (a manifest).
// IoError: a write failed.
[[nodiscard]] Status WriteTrainedShard(const std::string& out_dir, proto::TrainedShardInfo info,
                                       const std::vector<uint64_t>& keys,
                                       const std::vector<float>& values);

// The shards (0..num_shards-1) of `out_dir` that have no info file yet; the
// count comes from any info file present. NotFound when there is none.
[[nodiscard]] StatusOr<std::vector<int>> MissingTrainedShards(const std::string& out_dir);

struct FinalizeOptions {
  // The model the servers trained from; empty = the one named in the shards'
  // info files. Its dense weights, fields and description are kept.
  std::string source_model_dir;
  // Updated dense weights to store instead of the source's.
  std::optional<std::string> dense_blob;
};

// Completes the trained snapshot in `out_dir`: checks that every shard's info
// file is present and agrees (shard count, dim, source snapshot id), copies
// the dense weights, and writes the manifest (float32 rows, a new snapshot id
// computed as WriteModelDirectory does). Returns it.
// FailedPrecondition: shards missing (listed) or the info files disagree.
// NotFound: no info file. Errors of LoadModelDirectory for the source.
[[nodiscard]] StatusOr<proto::ModelManifest> FinalizeTrainedSnapshot(
    const std::string& out_dir, const FinalizeOptions& options = FinalizeOptions());

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_TRAINED_SNAPSHOT_H_
