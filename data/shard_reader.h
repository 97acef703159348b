// ShardSampleReader: samples of a shard set by id, decoded block by block
// with a bounded cache, so a worker reads data far larger than its memory.
//
// A shard is opened (its header, metadata and block index checked against
// the manifest) the first time one of its samples is asked for, so a worker
// opens only the shards its ids fall in. A block is decoded (its checksum
// checked) when first needed and kept in a least-recently-used cache of
// about `cache_bytes` decoded bytes; its file pages are dropped after
// decoding (MappedShard::DecodeBlock), so the resident memory is the cache,
// not the files. Ids that move through a domain in block-sized runs (the
// streamed visiting order of data/global_cursor.h) decode each block about
// once per epoch.
//
// Thread-safety: not thread-safe; one reader per thread (the worker's data
// pipeline thread).
#ifndef IAK_DATA_SHARD_READER_H_
#define IAK_DATA_SHARD_READER_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/shard_file.h"
#include "data/split.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

struct ShardReaderOptions {
  size_t cache_bytes = size_t{256} << 20;  // decoded blocks kept (at least one)
};

struct ShardReaderStats {
  uint64_t blocks_decoded = 0;
  uint64_t samples_decoded = 0;
  uint64_t samples_read = 0;  // handed out
  size_t shards_opened = 0;
  size_t cached_bytes = 0;
};

class ShardSampleReader {
 public:
  // Reads the manifest (or a folder holding one); opens no shard yet.
  [[nodiscard]] static StatusOr<std::unique_ptr<ShardSampleReader>> Open(
      const std::string& manifest_path, const ShardReaderOptions& options = {});

  const proto::ShardSetManifest& manifest() const { return manifest_; }
  uint64_t num_samples() const { return manifest_.num_samples(); }
  // An empty Dataset with the set's fields and domain names.
  const Dataset& empty() const { return empty_; }

  // Appends samples ids[0..n) of the set, in that order, to *out (whose
  // fields must be the set's). InvalidArgument for an id past the set;
  // the errors of opening a shard or decoding a block (naming the shard).
  [[nodiscard]] Status Gather(const uint32_t* ids, size_t n, Dataset* out);
  [[nodiscard]] Status Gather(const uint64_t* ids, size_t n, Dataset* out);
  // Appends samples [range.begin, range.end) to *out, block by block.
  [[nodiscard]] Status GatherRange(const IdRange& range, Dataset* out);

  ShardReaderStats stats() const;

 private:
  struct CachedBlock {
    Dataset samples;
    uint64_t first = 0;  // the set id of its first sample
    size_t bytes = 0;
    std::list<uint64_t>::iterator lru;
  };
  ShardSampleReader() = default;
  // The decoded block holding set id `id` (opening and decoding as needed).
  StatusOr<const CachedBlock*> BlockOf(uint64_t id);

  ShardReaderOptions options_;
  proto::ShardSetManifest manifest_;
  std::string dir_;
  Dataset empty_;
  std::vector<uint64_t> shard_first_;                 // per shard, ascending
  std::vector<std::unique_ptr<MappedShard>> shards_;  // null until opened
  std::unordered_map<uint64_t, CachedBlock> cache_;   // key: shard << 32 | block
  std::list<uint64_t> lru_;                           // most recent first
  const CachedBlock* last_ = nullptr;                 // the block of the last id
  ShardReaderStats stats_;
};

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_READER_H_
