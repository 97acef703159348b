// Writing a shard set (data/shard_set.h) from its samples in written order,
// a block at a time, so the whole set never has to be in memory: the
// in-memory WriteShardSet and the streamed `iak data convert`
// (data/shard_set_convert.h) both write through a ShardSetWriter, so the
// two produce the same files for the same samples.
//
// What a shard set's files depend on besides the samples must be known
// before the first one: the number of samples (shard i holds samples
// [i*n/N, (i+1)*n/N)), every domain name (each shard's header lists them)
// and the per-domain counts (the manifest).
//
// Thread-safety: one thread per writer.
#ifndef IAK_DATA_SHARD_SET_WRITER_H_
#define IAK_DATA_SHARD_SET_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "data/shard_file.h"
#include "data/shard_set.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

// The set as a whole, known before its first sample.
struct ShardSetLayout {
  std::vector<FieldInfo> fields;
  std::vector<std::string> domain_names;
  std::vector<int64_t> domain_counts;  // per domain_names entry; sums to num_samples
  uint64_t num_samples = 0;
  bool has_conversion = false;
};

// The layout of the set that holds exactly the samples of `data`.
ShardSetLayout LayoutOf(const Dataset& data);

// The most shard files a set has: one file (and, when converting, one run
// merge) per shard; a count past this never finishes creating them.
inline constexpr int kMaxShardSetShards = 1 << 16;

// InvalidArgument unless 1 <= num_shards <= kMaxShardSetShards.
[[nodiscard]] Status CheckShardCount(int num_shards);

class ShardSetWriter {
 public:
  // Creates options.dir when missing. With options.domain_ordered the caller
  // promises the samples come in DomainTimeOrder order (data/split.h); the
  // manifest then records domain d as starting at the sum of the counts of
  // the domains before it. InvalidArgumentError for a shard count that
  // CheckShardCount refuses or counts that do not sum to num_samples;
  // IoError for the folder.
  [[nodiscard]] static StatusOr<std::unique_ptr<ShardSetWriter>> Create(
      const ShardSetLayout& layout, const proto::Schema& schema,
      const std::vector<std::string>& sources, const ShardSetWriteOptions& options);
  ShardSetWriter(const ShardSetWriter&) = delete;
  ShardSetWriter& operator=(const ShardSetWriter&) = delete;
  ~ShardSetWriter();  // without Finish(): the open shard's temporary file is removed

  // Appends samples [begin, end) of `src`, then samples order[0, n) of `src`.
  // `src` has the set's fields; its domain ids index the set's domain names.
  // IoError when a shard cannot be written; InvalidArgumentError for more
  // samples than the layout's or a label other than 0/1.
  [[nodiscard]] Status AppendRange(const Dataset& src, size_t begin, size_t end);
  [[nodiscard]] Status AppendOrdered(const Dataset& src, const uint64_t* order, size_t n);

  // Writes the last shard and manifest.pbtxt (through a temporary file
  // renamed into place) and returns the manifest. InternalError when fewer
  // samples came than the layout said; IoError when a file cannot be written.
  [[nodiscard]] StatusOr<proto::ShardSetManifest> Finish();

 private:
  ShardSetWriter() = default;
  size_t Room() const;           // samples the block can take before a flush
  Status OpenShard();            // opens shard_
  Status StartShardIfNeeded();   // opens the shard the next sample goes to
  Status WriteBlock();           // v2: hands the block to the open shard
  Status FlushIfFull();          // WriteBlock at the block's size or the shard's end
  Status FinishShard();          // v1: writes the shard; closes it; records it

  ShardSetWriteOptions options_;
  proto::ShardSetManifest manifest_;
  uint64_t num_samples_ = 0;
  size_t shard_ = 0;              // the shard being written
  bool shard_open_ = false;
  uint64_t shard_begin_ = 0, shard_end_ = 0, written_ = 0;  // written_: set-wide, block excluded
  Dataset block_;                 // samples not yet handed to the shard (v1: the whole shard)
  std::unique_ptr<ShardFileWriter> file_;  // v2: the open shard
  proto::ShardMeta meta_;         // the open shard's
};

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_SET_WRITER_H_
