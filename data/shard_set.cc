#include "data/shard_set.h"

#include <google/protobuf/text_format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "data/dataset_append.h"
#include "data/shard_file.h"
#include "data/split.h"

namespace iak::data {
namespace {

std::string ShardName(int index, int count) {
  char name[64];
  std::snprintf(name, sizeof(name), "shard-%05d-of-%05d.iaks", index, count);
  return name;
}

Status MakeDirs(const std::string& dir) {
  std::string partial;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!partial.empty() && ::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return IoError("cannot create folder " + partial + ": " + std::strerror(errno));
      }
    }
    if (i < dir.size()) partial.push_back(dir[i]);
  }
  return Status::Ok();
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Writes samples order[begin, end) of `data` as one shard, gathering a block
// at a time (the order is a permutation of the set, or empty for the input
// order).
Status WriteOneShard(const Dataset& data, const std::vector<uint64_t>& order, size_t begin,
                     size_t end, const proto::ShardMeta& meta, const ShardFileOptions& file,
                     const std::string& path, uint64_t* checksum) {
  if (order.empty()) return WriteShardFile(data, begin, end, meta, path, checksum, file);
  Dataset part;
  part.fields = data.fields;
  part.domain_names = data.domain_names;
  if (file.version == 1) {
    AppendSampleIds(data, order.data() + begin, end - begin, &part);
    return WriteShardFile(part, 0, part.size(), meta, path, checksum, file);
  }
  proto::ShardMeta full = meta;
  for (const FieldInfo& field : data.fields) {
    proto::FieldSchema* f = full.add_fields();
    f->set_name(field.name);
    f->set_multi_valued(field.multi_valued);
    f->set_pooling(field.pooling == Pooling::kMean ? "mean" : "sum");
  }
  for (const std::string& name : data.domain_names) full.add_domain_names(name);
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<ShardFileWriter> writer,
                       ShardFileWriter::Create(path, full, data.has_conversion(), file));
  for (size_t b = begin; b < end; b += file.block_samples) {
    const size_t e = std::min(end, b + file.block_samples);
    part.keys.clear();
    part.offsets.assign(1, 0);
    part.click.clear();
    part.conversion.clear();
    part.domain.clear();
    part.timestamp.clear();
    AppendSampleIds(data, order.data() + b, e - b, &part);
    IAK_RETURN_IF_ERROR(writer->Append(part, 0, part.size()));
  }
  IAK_ASSIGN_OR_RETURN(*checksum, writer->Finish());
  return Status::Ok();
}

}  // namespace

StatusOr<proto::ShardSetManifest> WriteShardSet(const Dataset& data, const proto::Schema& schema,
                                                const std::vector<std::string>& sources,
                                                const ShardSetWriteOptions& options) {
  if (options.num_shards < 1) {
    return InvalidArgumentError("num_shards must be >= 1, got " +
                                std::to_string(options.num_shards));
  }
  IAK_RETURN_IF_ERROR(MakeDirs(options.dir));
  proto::ShardSetManifest manifest;
  manifest.set_format(kShardSetFormat);
  manifest.set_num_samples(data.size());
  manifest.set_has_conversion(data.has_conversion());
  *manifest.mutable_schema() = schema;
  for (const std::string& s : sources) manifest.add_source_files(s);
  for (const FieldInfo& field : data.fields) {
    proto::FieldSchema* f = manifest.add_fields();
    f->set_name(field.name);
    f->set_multi_valued(field.multi_valued);
    f->set_pooling(field.pooling == Pooling::kMean ? "mean" : "sum");
  }
  std::vector<int64_t> counts(data.domain_names.size(), 0);
  for (int32_t d : data.domain) ++counts[static_cast<size_t>(d)];
  for (size_t d = 0; d < counts.size(); ++d) {
    manifest.add_domain_names(data.domain_names[d]);
    manifest.add_domain_counts(counts[d]);
  }
  std::vector<uint64_t> order;  // empty: the input order
  if (options.domain_ordered) {
    manifest.set_domain_ordered(true);
    for (const DomainSplit& domain : SplitByTime(data, 1.0, 0.0)) {
      manifest.add_domain_first_sample(order.size());
      order.insert(order.end(), domain.train.begin(), domain.train.end());
    }
  }
  const size_t n = data.size();
  const size_t shards = static_cast<size_t>(options.num_shards);
  for (size_t i = 0; i < shards; ++i) {
    const size_t begin = n * i / shards;
    const size_t end = n * (i + 1) / shards;
    proto::ShardMeta meta;
    meta.set_shard_index(static_cast<int>(i));
    meta.set_num_shards(options.num_shards);
    meta.set_first_sample(begin);
    const std::string name = ShardName(static_cast<int>(i), options.num_shards);
    uint64_t checksum = 0;
    IAK_RETURN_IF_ERROR(WriteOneShard(data, order, begin, end, meta, options.file,
                                      options.dir + "/" + name, &checksum));
    proto::ShardFileInfo* info = manifest.add_shards();
    info->set_path(name);
    info->set_num_samples(end - begin);
    info->set_checksum(checksum);
    info->set_first_sample(begin);
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return InternalError("cannot print the shard manifest");
  }
  const std::string path = options.dir + "/" + kManifestName;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot rename " + tmp + " to " + path);
  }
  return manifest;
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
