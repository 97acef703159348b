#include "data/shard_reader.h"

#include <algorithm>
#include <utility>

#include "data/dataset_append.h"
#include "data/shard_set.h"

namespace iak::data {
namespace {

size_t DecodedBytes(const Dataset& d) {
  return d.keys.size() * 8 + d.offsets.size() * 8 + d.size() * 20;
}

}  // namespace

StatusOr<std::unique_ptr<ShardSampleReader>> ShardSampleReader::Open(
    const std::string& manifest_path, const ShardReaderOptions& options) {
  std::unique_ptr<ShardSampleReader> r(new ShardSampleReader());
  IAK_ASSIGN_OR_RETURN(r->manifest_, ReadShardManifest(manifest_path));
  r->options_ = options;
  r->dir_ = ShardSetDir(manifest_path);
  r->empty_ = EmptyDatasetOf(r->manifest_);
  uint64_t next = 0;
  for (const proto::ShardFileInfo& info : r->manifest_.shards()) {
    if (info.first_sample() != next) {
      return DataLossError(r->dir_ + "/" + info.path() + ": the manifest says it starts at " +
                           "sample " + std::to_string(info.first_sample()) +
                           ", the shards before it end at " + std::to_string(next) +
                           "; rewrite the set with `iak data convert`");
    }
    r->shard_first_.push_back(next);
    next += info.num_samples();
  }
  if (next != r->manifest_.num_samples()) {
    return DataLossError(r->dir_ + ": the manifest's shards hold " + std::to_string(next) +
                         " samples, it says " + std::to_string(r->manifest_.num_samples()) +
                         "; rewrite the set with `iak data convert`");
  }
  r->shards_.resize(r->shard_first_.size());
  return r;
}

StatusOr<const ShardSampleReader::CachedBlock*> ShardSampleReader::BlockOf(uint64_t id) {
  if (last_ != nullptr && id >= last_->first && id < last_->first + last_->samples.size()) {
    return last_;
  }
  if (id >= num_samples()) {
    return InvalidArgumentError("sample " + std::to_string(id) + " is past the shard set's " +
                                std::to_string(num_samples()) + " samples (" + dir_ + ")");
  }
  const size_t shard = static_cast<size_t>(
      std::upper_bound(shard_first_.begin(), shard_first_.end(), id) - shard_first_.begin() - 1);
  if (shards_[shard] == nullptr) {
    // The block checksums are checked as each block is decoded.
    const proto::ShardFileInfo& info = manifest_.shards(static_cast<int>(shard));
    IAK_ASSIGN_OR_RETURN(shards_[shard],
                         OpenManifestShard(dir_, info, manifest_, /*verify=*/false));
    ++stats_.shards_opened;
  }
  const MappedShard& file = *shards_[shard];
  const uint64_t within = id - shard_first_[shard];
  size_t lo = 0, hi = file.num_blocks();  // the last block starting at or before `within`
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    (file.block_first_sample(mid) <= within ? lo : hi) = mid;
  }
  const uint64_t key = (static_cast<uint64_t>(shard) << 32) | lo;
  auto found = cache_.find(key);
  if (found != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, found->second.lru);
    last_ = &found->second;
    return last_;
  }
  CachedBlock block;
  block.samples = empty_;
  block.first = shard_first_[shard] + file.block_first_sample(lo);
  IAK_RETURN_IF_ERROR(file.DecodeBlock(lo, &block.samples));
  block.bytes = DecodedBytes(block.samples);
  ++stats_.blocks_decoded;
  stats_.samples_decoded += block.samples.size();
  // Evict down to the budget, always keeping room for the new block.
  while (!lru_.empty() && stats_.cached_bytes + block.bytes > options_.cache_bytes) {
    auto victim = cache_.find(lru_.back());
    stats_.cached_bytes -= victim->second.bytes;
    cache_.erase(victim);
    lru_.pop_back();
  }
  stats_.cached_bytes += block.bytes;
  lru_.push_front(key);
  block.lru = lru_.begin();
  last_ = &(cache_[key] = std::move(block));
  return last_;
}

Status ShardSampleReader::Gather(const uint64_t* ids, size_t n, Dataset* out) {
  for (size_t i = 0; i < n; ++i) {
    IAK_ASSIGN_OR_RETURN(const CachedBlock* block, BlockOf(ids[i]));
    const uint64_t local = ids[i] - block->first;
    AppendSampleIds(block->samples, &local, 1, out);
  }
  stats_.samples_read += n;
  return Status::Ok();
}

Status ShardSampleReader::Gather(const uint32_t* ids, size_t n, Dataset* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t id = ids[i];
    IAK_RETURN_IF_ERROR(Gather(&id, 1, out));
  }
  return Status::Ok();
}

Status ShardSampleReader::GatherRange(const IdRange& range, Dataset* out) {
  std::vector<uint64_t> ids;
  for (uint64_t at = range.begin; at < range.end;) {
    IAK_ASSIGN_OR_RETURN(const CachedBlock* block, BlockOf(at));
    const uint64_t end = std::min<uint64_t>(range.end, block->first + block->samples.size());
    ids.clear();
    for (uint64_t id = at; id < end; ++id) ids.push_back(id - block->first);
    AppendSampleIds(block->samples, ids.data(), ids.size(), out);
    stats_.samples_read += end - at;
    at = end;
  }
  return Status::Ok();
}

ShardReaderStats ShardSampleReader::stats() const { return stats_; }

}  // namespace iak::data
