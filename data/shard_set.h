// A shard set: a folder of binary shard files plus manifest.pbtxt
// (proto::ShardSetManifest), written once by `iak data convert` and read by
// workers on every later epoch. Shard i holds a contiguous run of samples;
// worker `rank` of `world` reads shards rank, rank + world, ... and nothing
// else, so workers split the files without reading each other's.
//
// Thread-safety: functions touch only their arguments and the files.
#ifndef IAK_DATA_SHARD_SET_H_
#define IAK_DATA_SHARD_SET_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

inline constexpr char kShardSetFormat[] = "iak-shards-v1";
inline constexpr char kManifestName[] = "manifest.pbtxt";

struct ShardSetWriteOptions {
  std::string dir;     // created if missing; existing shard files are replaced
  int num_shards = 1;  // >= 1; more shards than samples leaves some empty
};

// Writes `data` as `options.num_shards` files "shard-IIIII-of-NNNNN.iaks"
// and the manifest (with per-domain counts, the schema and the sources).
// InvalidArgumentError for num_shards < 1; IoError when writing fails.
[[nodiscard]] StatusOr<proto::ShardSetManifest> WriteShardSet(
    const Dataset& data, const proto::Schema& schema, const std::vector<std::string>& sources,
    const ShardSetWriteOptions& options);

// Reads manifest.pbtxt at `manifest_path` (or a folder holding one).
[[nodiscard]] StatusOr<proto::ShardSetManifest> ReadShardManifest(
    const std::string& manifest_path);

// The samples of the shards worker `rank` of `world` owns (shards
// rank, rank + world, ...), in shard order, with the manifest's fields and
// domain names. Each shard is memory-mapped and, with `verify`, checked
// (MappedShard::Open) and matched against the manifest (sample count,
// checksum, fields), so a shard from another set is refused.
// InvalidArgumentError for a bad rank/world; the errors of MappedShard::Open.
[[nodiscard]] StatusOr<Dataset> ReadShardSet(const std::string& manifest_path, int rank = 0,
                                             int world = 1, bool verify = true,
                                             proto::ShardSetManifest* manifest = nullptr);

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_SET_H_
