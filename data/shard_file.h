// The project's binary shard: one file holding a contiguous run of samples.
//
// Version 2 (written today) is compact: the samples are cut into blocks of
// up to `block_samples`, each coded by data/shard_block.h (no per-sample
// offsets for single-valued fields, dictionary-coded keys, bitmaps, varint
// timestamps) and compressed with zstd when that is smaller; a block index
// at the end lets a reader decode one block at a time (streaming, bounded
// memory). Version 1 (the Dataset's arrays as they are in memory) is still
// read. Layouts (little-endian; docs/data.md has the byte tables):
//
//   64-byte header: magic "IAKSHRD1", version, num_fields, num_samples,
//                   num_keys, meta_bytes, flags, (v2) num_blocks and
//                   file size, header checksum
//   ShardMeta proto (fields, domain names, shard index), padded to 8 bytes
//   v1: offsets u64[num_samples * num_fields + 1], keys u64[num_keys],
//       click f32, conversion f32 (flag 1), domain i32, timestamp i64
//   v2: the blocks, then the index: per block {u64 file offset,
//       u32 stored bytes, u32 coded bytes, u32 samples, u32 flags,
//       u64 checksum of the stored bytes}
//   16-byte footer: u64 checksum (v1: of everything between header and
//                   footer; v2: of the metadata and the index, which holds
//                   every block's checksum), magic "IAKSEND1"
//
// Thread-safety: a MappedShard is immutable after Open; DecodeBlock and
// AppendTo may run on any number of threads.
#ifndef IAK_DATA_SHARD_FILE_H_
#define IAK_DATA_SHARD_FILE_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

inline constexpr uint32_t kShardVersion = 2;  // what the writers write

struct ShardFileOptions {
  uint32_t version = kShardVersion;  // 1 writes the old uncompressed layout
  size_t block_samples = 8192;       // v2: samples per block (>= 1)
  int zstd_level = 3;                // v2: 0 stores blocks uncompressed
};

// Writes samples [begin, end) of `data` with `meta` (its fields and
// domain_names are filled from `data`) to `path`, through a temporary file
// renamed into place. Sets *checksum to the file's checksum (the footer's).
// IoError when the file cannot be written; InvalidArgument for a label other
// than 0/1 (v2 stores labels as bits).
[[nodiscard]] Status WriteShardFile(const Dataset& data, size_t begin, size_t end,
                                    proto::ShardMeta meta, const std::string& path,
                                    uint64_t* checksum, const ShardFileOptions& options = {});

// Writes a version-2 shard block by block, so a shard far larger than memory
// is written from a stream of small Datasets. Nothing is visible at `path`
// until Finish() renames the temporary file into place.
class ShardFileWriter {
 public:
  // `meta` must already hold the fields and domain names of the samples to
  // come. IoError when the temporary file cannot be created.
  [[nodiscard]] static StatusOr<std::unique_ptr<ShardFileWriter>> Create(
      const std::string& path, const proto::ShardMeta& meta, bool has_conversion,
      const ShardFileOptions& options = {});
  ~ShardFileWriter();  // without Finish(): removes the temporary file
  ShardFileWriter(const ShardFileWriter&) = delete;
  ShardFileWriter& operator=(const ShardFileWriter&) = delete;

  // Appends samples [begin, end) of `data` (fields as in the meta) as blocks
  // of up to block_samples. IoError on a failed write; InvalidArgument for a
  // label other than 0/1 or a conversion mismatch.
  [[nodiscard]] Status Append(const Dataset& data, size_t begin, size_t end);

  // Writes the index, footer and header and renames the file into place;
  // returns the checksum. The writer is done afterwards.
  [[nodiscard]] StatusOr<uint64_t> Finish();

  uint64_t num_samples() const { return num_samples_; }
  uint64_t bytes_written() const { return at_; }

 private:
  ShardFileWriter() = default;
  Status WriteBytes(const void* p, size_t n);

  std::string path_, tmp_, meta_bytes_;
  std::FILE* file_ = nullptr;
  ShardFileOptions options_;
  bool has_conversion_ = false;
  uint32_t num_fields_ = 0;
  uint64_t num_samples_ = 0, num_keys_ = 0, at_ = 0;
  std::string index_;   // the block index, appended per block
  std::string coded_;   // scratch: one coded block
  std::string stored_;  // scratch: one compressed block
};

class MappedShard {
 public:
  // Maps `path` read-only and checks it: magic, version, header checksum,
  // exact size (a truncated file is named as such), footer, the v2 block
  // index, the v1 structure (offsets increasing to num_keys, domain ids
  // below the number of domain names, labels 0 or 1; one pass, whatever
  // `verify` says, since readers index by them), and with `verify` the data
  // checksums (a v2 block's is checked as it is decoded anyway).
  // NotFoundError / IoError for the file,
  // InvalidArgumentError for a file that is not a shard or of a version this
  // build does not read, DataLossError for a truncated or corrupted one;
  // every message names the path and says to rerun `iak data convert`.
  [[nodiscard]] static StatusOr<std::unique_ptr<MappedShard>> Open(const std::string& path,
                                                                   bool verify = true);
  ~MappedShard();
  MappedShard(const MappedShard&) = delete;
  MappedShard& operator=(const MappedShard&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t num_samples() const { return num_samples_; }
  size_t num_fields() const { return num_fields_; }
  size_t num_keys() const { return num_keys_; }
  bool has_conversion() const { return has_conversion_; }
  uint64_t checksum() const { return checksum_; }
  const proto::ShardMeta& meta() const { return meta_; }

  // The shard's blocks (a v1 shard is one block) and the samples of each.
  size_t num_blocks() const { return blocks_.size(); }
  size_t block_samples(size_t block) const { return blocks_[block].samples; }
  uint64_t block_first_sample(size_t block) const { return blocks_[block].first_sample; }

  // Appends the samples of `block` to `out` (whose fields must match;
  // CHECKed; domain_names must hold the shard's), checking the block's
  // checksum first. Afterwards the block's pages are dropped from this
  // process (they stay in the page cache), so streaming a shard keeps the
  // resident memory to about one block. DataLossError naming the shard and
  // block for a corrupted block.
  [[nodiscard]] Status DecodeBlock(size_t block, Dataset* out) const;

  // Appends every sample to `out` (DecodeBlock over all blocks).
  [[nodiscard]] Status AppendTo(Dataset* out) const;

 private:
  struct Block {
    uint64_t offset = 0;  // in the file
    uint32_t stored = 0, coded = 0, samples = 0, flags = 0;
    uint64_t checksum = 0;
    uint64_t first_sample = 0;  // within the shard
  };
  MappedShard() = default;
  Status OpenV1(bool verify);
  Status OpenV2(bool verify, uint64_t num_blocks, uint64_t file_bytes);
  // v1: offsets increasing from 0 to num_keys, domain ids below the number
  // of domain names, labels 0 or 1; DataLossError naming the first bad entry.
  Status CheckV1Structure() const;
  void AppendV1(Dataset* out) const;
  // v2: inflates a zstd block (at `stored` in the mapping) into *coded once
  // its stated sizes are consistent and bounded; DataLossError otherwise.
  Status Decompress(size_t block, const char* stored, std::string* coded) const;

  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  uint32_t version_ = 0;
  size_t num_samples_ = 0;
  size_t num_fields_ = 0;
  size_t num_keys_ = 0;
  uint32_t meta_bytes_ = 0;
  bool has_conversion_ = false;
  uint64_t checksum_ = 0;
  proto::ShardMeta meta_;
  std::vector<Block> blocks_;
  // v1: views into the mapping.
  const uint64_t* offsets_ = nullptr;
  const uint64_t* keys_ = nullptr;
  const float* click_ = nullptr;
  const float* conversion_ = nullptr;
  const int32_t* domain_ = nullptr;
  const int64_t* timestamp_ = nullptr;
};

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_FILE_H_
