#include "data/shard_set_writer.h"

#include <google/protobuf/text_format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "data/dataset_append.h"

namespace iak::data {

ShardSetLayout LayoutOf(const Dataset& data) {
  ShardSetLayout layout;
  layout.fields = data.fields;
  layout.domain_names = data.domain_names;
  layout.domain_counts.assign(data.domain_names.size(), 0);
  for (int32_t d : data.domain) ++layout.domain_counts[static_cast<size_t>(d)];
  layout.num_samples = data.size();
  layout.has_conversion = data.has_conversion();
  return layout;
}
namespace {

std::string ShardName(size_t index, int count) {
  char name[64];
  std::snprintf(name, sizeof(name), "shard-%05zu-of-%05d.iaks", index, count);
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

template <typename Proto>
void AddFieldSchemas(const std::vector<FieldInfo>& fields, Proto* out) {
  for (const FieldInfo& field : fields) {
    proto::FieldSchema* f = out->add_fields();
    f->set_name(field.name);
    f->set_multi_valued(field.multi_valued);
    f->set_pooling(field.pooling == Pooling::kMean ? "mean" : "sum");
  }
}

Status WriteManifestFile(const proto::ShardSetManifest& manifest, const std::string& dir) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return InternalError("cannot print the shard manifest");
  }
  const std::string path = dir + "/" + kManifestName;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return IoError("cannot write " + tmp + " (disk full? folder writable?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

void ClearSamples(Dataset* d) {
  d->keys.clear();
  d->offsets.assign(1, 0);
  d->click.clear();
  d->conversion.clear();
  d->domain.clear();
  d->timestamp.clear();
}

}  // namespace

Status CheckShardCount(int num_shards) {
  if (num_shards < 1 || num_shards > kMaxShardSetShards) {
    return InvalidArgumentError("num_shards must be in [1, " + std::to_string(kMaxShardSetShards) +
                                "], got " + std::to_string(num_shards));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<ShardSetWriter>> ShardSetWriter::Create(
    const ShardSetLayout& layout, const proto::Schema& schema,
    const std::vector<std::string>& sources, const ShardSetWriteOptions& options) {
  IAK_RETURN_IF_ERROR(CheckShardCount(options.num_shards));
  int64_t counted = 0;
  for (int64_t c : layout.domain_counts) counted += c;
  if (layout.domain_counts.size() != layout.domain_names.size() ||
      static_cast<uint64_t>(counted) != layout.num_samples) {
    return InvalidArgumentError("shard set layout: " + std::to_string(counted) +
                                " samples counted over the domains, " +
                                std::to_string(layout.num_samples) + " in the set");
  }
  IAK_RETURN_IF_ERROR(MakeDirs(options.dir));
  std::unique_ptr<ShardSetWriter> w(new ShardSetWriter());
  w->options_ = options;
  w->num_samples_ = layout.num_samples;
  proto::ShardSetManifest& m = w->manifest_;
  m.set_format(kShardSetFormat);
  m.set_num_samples(layout.num_samples);
  m.set_has_conversion(layout.has_conversion);
  *m.mutable_schema() = schema;
  for (const std::string& s : sources) m.add_source_files(s);
  AddFieldSchemas(layout.fields, &m);
  uint64_t first = 0;
  for (size_t d = 0; d < layout.domain_names.size(); ++d) {
    m.add_domain_names(layout.domain_names[d]);
    m.add_domain_counts(layout.domain_counts[d]);
    if (options.domain_ordered) m.add_domain_first_sample(first);
    first += static_cast<uint64_t>(layout.domain_counts[d]);
  }
  if (options.domain_ordered) m.set_domain_ordered(true);
  w->block_.fields = layout.fields;
  w->block_.domain_names = layout.domain_names;
  return w;
}

ShardSetWriter::~ShardSetWriter() = default;  // file_'s destructor removes its temporary

size_t ShardSetWriter::Room() const {
  const uint64_t in_shard = shard_end_ - written_ - block_.size();
  if (options_.file.version == 1) return in_shard;
  return std::min<uint64_t>(in_shard, options_.file.block_samples - block_.size());
}

Status ShardSetWriter::OpenShard() {
  const size_t shards = static_cast<size_t>(options_.num_shards);
  shard_begin_ = num_samples_ * shard_ / shards;
  shard_end_ = num_samples_ * (shard_ + 1) / shards;
  meta_.Clear();
  meta_.set_shard_index(static_cast<int>(shard_));
  meta_.set_num_shards(options_.num_shards);
  meta_.set_first_sample(shard_begin_);
  if (options_.file.version != 1) {  // v1 shards are written whole by FinishShard
    AddFieldSchemas(block_.fields, &meta_);
    for (const std::string& name : block_.domain_names) meta_.add_domain_names(name);
    IAK_ASSIGN_OR_RETURN(
        file_, ShardFileWriter::Create(options_.dir + "/" + ShardName(shard_, options_.num_shards),
                                       meta_, manifest_.has_conversion(), options_.file));
  }
  shard_open_ = true;
  return Status::Ok();
}

Status ShardSetWriter::StartShardIfNeeded() {
  while (!shard_open_ || Room() == 0) {
    if (shard_open_) IAK_RETURN_IF_ERROR(FinishShard());
    if (shard_ >= static_cast<size_t>(options_.num_shards)) {
      return InvalidArgumentError("more samples than the " + std::to_string(num_samples_) +
                                  " the shard set was laid out for");
    }
    IAK_RETURN_IF_ERROR(OpenShard());
  }
  return Status::Ok();
}

Status ShardSetWriter::WriteBlock() {
  if (file_ != nullptr && block_.size() > 0) {
    IAK_RETURN_IF_ERROR(file_->Append(block_, 0, block_.size()));
    written_ += block_.size();
    ClearSamples(&block_);
  }
  return Status::Ok();
}

Status ShardSetWriter::FlushIfFull() {
  // v1 keeps the shard's samples in the block until FinishShard writes it.
  return Room() == 0 ? WriteBlock() : Status::Ok();
}

Status ShardSetWriter::FinishShard() {
  const std::string name = ShardName(shard_, options_.num_shards);
  uint64_t checksum = 0;
  if (options_.file.version == 1) {
    IAK_RETURN_IF_ERROR(WriteShardFile(block_, 0, block_.size(), meta_, options_.dir + "/" + name,
                                       &checksum, options_.file));
    written_ += block_.size();
    ClearSamples(&block_);
  } else {
    IAK_ASSIGN_OR_RETURN(checksum, file_->Finish());
    file_.reset();
  }
  proto::ShardFileInfo* info = manifest_.add_shards();
  info->set_path(name);
  info->set_num_samples(shard_end_ - shard_begin_);
  info->set_checksum(checksum);
  info->set_first_sample(shard_begin_);
  ++shard_;
  shard_open_ = false;
  return Status::Ok();
}

Status ShardSetWriter::AppendRange(const Dataset& src, size_t begin, size_t end) {
  while (begin < end) {
    IAK_RETURN_IF_ERROR(StartShardIfNeeded());
    const size_t take = std::min(end - begin, Room());
    AppendSampleRange(src, begin, begin + take, &block_);
    begin += take;
    IAK_RETURN_IF_ERROR(FlushIfFull());
  }
  return Status::Ok();
}

Status ShardSetWriter::AppendOrdered(const Dataset& src, const uint64_t* order, size_t n) {
  size_t i = 0;
  while (i < n) {
    IAK_RETURN_IF_ERROR(StartShardIfNeeded());
    const size_t take = std::min(n - i, Room());
    AppendSampleIds(src, order + i, take, &block_);
    i += take;
    IAK_RETURN_IF_ERROR(FlushIfFull());
  }
  return Status::Ok();
}

StatusOr<proto::ShardSetManifest> ShardSetWriter::Finish() {
  // The open shard, then every shard still to come (empty ones when there
  // are more shards than samples).
  while (shard_ < static_cast<size_t>(options_.num_shards)) {
    if (!shard_open_) IAK_RETURN_IF_ERROR(OpenShard());
    if (written_ + block_.size() != shard_end_) {
      return InternalError("the shard set was laid out for " + std::to_string(num_samples_) +
                           " samples but only " + std::to_string(written_ + block_.size()) +
                           " came");
    }
    IAK_RETURN_IF_ERROR(WriteBlock());
    IAK_RETURN_IF_ERROR(FinishShard());
  }
  IAK_RETURN_IF_ERROR(WriteManifestFile(manifest_, options_.dir));
  return manifest_;
}

}  // namespace iak::data
