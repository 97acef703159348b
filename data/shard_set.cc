#include "data/shard_set.h"

#include <google/protobuf/text_format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "data/shard_file.h"
#include "data/shard_set_writer.h"
#include "data/split.h"

namespace iak::data {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

StatusOr<proto::ShardSetManifest> WriteShardSet(const Dataset& data, const proto::Schema& schema,
                                                const std::vector<std::string>& sources,
                                                const ShardSetWriteOptions& options) {
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<ShardSetWriter> writer,
                       ShardSetWriter::Create(LayoutOf(data), schema, sources, options));
  if (options.domain_ordered) {
    const std::vector<uint64_t> order = DomainTimeOrder(data);
    IAK_RETURN_IF_ERROR(writer->AppendOrdered(data, order.data(), order.size()));
  } else {
    IAK_RETURN_IF_ERROR(writer->AppendRange(data, 0, data.size()));
  }
  return writer->Finish();
}

StatusOr<proto::ShardSetManifest> ReadShardManifest(const std::string& manifest_path) {
  const std::string path =
      IsDirectory(manifest_path) ? manifest_path + "/" + kManifestName : manifest_path;
  std::ifstream in(path);
  if (!in) return NotFoundError(path + ": cannot open the shard manifest");
  std::stringstream text;
  text << in.rdbuf();
  proto::ShardSetManifest manifest;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &manifest)) {
    return DataLossError(path + ": unreadable shard manifest; rewrite it with `iak data convert`");
  }
  if (manifest.format() != kShardSetFormat) {
    return InvalidArgumentError(path + ": format '" + manifest.format() + "', expected '" +
                                kShardSetFormat + "'");
  }
  return manifest;
}

std::string ShardSetDir(const std::string& manifest_path) {
  return IsDirectory(manifest_path) ? manifest_path : DirOf(manifest_path);
}

StatusOr<std::unique_ptr<MappedShard>> OpenManifestShard(const std::string& dir,
                                                         const proto::ShardFileInfo& info,
                                                         const proto::ShardSetManifest& manifest,
                                                         bool verify) {
  const std::string path = dir + "/" + info.path();
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<MappedShard> shard, MappedShard::Open(path, verify));
  if (shard->num_samples() != info.num_samples() || shard->checksum() != info.checksum() ||
      shard->num_fields() != static_cast<size_t>(manifest.fields_size()) ||
      shard->has_conversion() != manifest.has_conversion()) {
    return DataLossError(path + ": does not match its manifest (samples, checksum, fields or "
                                "labels differ; a shard from another conversion?); rewrite "
                                "the set with `iak data convert`");
  }
  return shard;
}

Dataset EmptyDatasetOf(const proto::ShardSetManifest& manifest) {
  Dataset out;
  for (const proto::FieldSchema& f : manifest.fields()) {
    out.fields.push_back({f.name(), f.multi_valued(),
                          f.pooling() == "mean" ? Pooling::kMean : Pooling::kSum});
  }
  out.domain_names.assign(manifest.domain_names().begin(), manifest.domain_names().end());
  return out;
}

StatusOr<Dataset> ReadShardSet(const std::string& manifest_path, int rank, int world,
                               bool verify, proto::ShardSetManifest* manifest_out) {
  if (world < 1 || rank < 0 || rank >= world) {
    return InvalidArgumentError("bad worker share: rank " + std::to_string(rank) + " of " +
                                std::to_string(world));
  }
  IAK_ASSIGN_OR_RETURN(proto::ShardSetManifest manifest, ReadShardManifest(manifest_path));
  const std::string dir = ShardSetDir(manifest_path);
  Dataset out = EmptyDatasetOf(manifest);
  for (int i = rank; i < manifest.shards_size(); i += world) {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<MappedShard> shard,
                         OpenManifestShard(dir, manifest.shards(i), manifest, verify));
    IAK_RETURN_IF_ERROR(shard->AppendTo(&out));
  }
  if (manifest_out != nullptr) *manifest_out = std::move(manifest);
  return out;
}

}  // namespace iak::data
