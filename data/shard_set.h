// A shard set: a folder of binary shard files plus manifest.pbtxt
// (proto::ShardSetManifest), written once by `iak data convert` and read by
// workers on every later epoch. Shard i holds a contiguous run of samples;
// worker `rank` of `world` reads shards rank, rank + world, ... and nothing
// else, so workers split the files without reading each other's.
//
// Thread-safety: functions touch only their arguments and the files.
#ifndef IAK_DATA_SHARD_SET_H_
#define IAK_DATA_SHARD_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/shard_file.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

inline constexpr char kShardSetFormat[] = "iak-shards-v1";
inline constexpr char kManifestName[] = "manifest.pbtxt";

struct ShardSetWriteOptions {
  std::string dir;     // created if missing; existing shard files are replaced
  int num_shards = 1;  // >= 1; more shards than samples leaves some empty
  // Write the samples ordered by domain, then by (timestamp, input position)
  // - the order of SplitByTime - and record each domain's range, so a job's
  // split is a set of ranges and workers can stream (docs/data.md). false:
  // the input order.
  bool domain_ordered = true;
  ShardFileOptions file;  // format version, block size, zstd level
};

// Writes `data` as `options.num_shards` files "shard-IIIII-of-NNNNN.iaks"
// (shard i: samples [i*n/N, (i+1)*n/N) of the written order) and the
// manifest (with per-domain counts and, when domain-ordered, first samples,
// the schema and the sources), through a ShardSetWriter
// (data/shard_set_writer.h). Holds `data` whole; ConvertTextToShardSet
// (data/shard_set_convert.h) writes the same files from text in bounded memory.
// InvalidArgumentError for num_shards < 1; IoError when writing fails.
[[nodiscard]] StatusOr<proto::ShardSetManifest> WriteShardSet(
    const Dataset& data, const proto::Schema& schema, const std::vector<std::string>& sources,
    const ShardSetWriteOptions& options);

// Reads manifest.pbtxt at `manifest_path` (or a folder holding one).
[[nodiscard]] StatusOr<proto::ShardSetManifest> ReadShardManifest(
    const std::string& manifest_path);

// The folder a manifest path (or folder) names.
std::string ShardSetDir(const std::string& manifest_path);

// Opens shard `info` of `manifest` (in folder `dir`) and matches it against
// the manifest (sample count, checksum, fields, labels), so a shard from
// another set is refused. The errors of MappedShard::Open; DataLossError
// naming the shard for a mismatch.
[[nodiscard]] StatusOr<std::unique_ptr<MappedShard>> OpenManifestShard(
    const std::string& dir, const proto::ShardFileInfo& info,
    const proto::ShardSetManifest& manifest, bool verify);

// An empty Dataset with the manifest's fields and domain names.
Dataset EmptyDatasetOf(const proto::ShardSetManifest& manifest);

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
