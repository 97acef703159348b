// The project's binary shard: one file holding a contiguous run of samples in
// the Dataset's own columnar layout, so reading it is a memory map, a
// checksum pass and a few memcpy's rather than parsing.
//
// Layout (little-endian; docs/data.md has the byte table):
//   64-byte header: magic "IAKSHRD1", version, num_fields, num_samples,
//                   num_keys, meta_bytes, flags, header checksum
//   ShardMeta proto (fields, domain names, shard index), padded to 8 bytes
//   offsets u64[num_samples * num_fields + 1]   (start at 0)
//   keys    u64[num_keys]
//   click   f32[num_samples]                    (each section padded to 8)
//   conversion f32[num_samples]                 (only with flag 1)
//   domain  i32[num_samples]
//   timestamp i64[num_samples]
//   16-byte footer: Checksum64 of everything between header and footer,
//                   magic "IAKSEND1"
//
// Thread-safety: a MappedShard is immutable after Open; any number of
// threads may read it.
#ifndef IAK_DATA_SHARD_FILE_H_
#define IAK_DATA_SHARD_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "data/dataset.h"
#include "proto/data_schema.pb.h"

namespace iak::data {

// Writes samples [begin, end) of `data` with `meta` (its fields and
// domain_names are filled from `data`) to `path`, through a temporary file
// renamed into place. Sets *checksum to the data checksum.
// IoError when the file cannot be written.
[[nodiscard]] Status WriteShardFile(const Dataset& data, size_t begin, size_t end,
                                    proto::ShardMeta meta, const std::string& path,
                                    uint64_t* checksum);

class MappedShard {
 public:
  // Maps `path` read-only and checks it: magic, header checksum, exact size
  // (a truncated file is named as such), footer, and with `verify` the data
  // checksum and the structure (offsets increasing to num_keys, domain ids
  // below the number of domain names, labels 0 or 1).
  // NotFoundError / IoError for the file, InvalidArgumentError for a file
  // that is not a shard, DataLossError for a truncated or corrupted one; every
  // message names the path and says to rerun `iak data convert`.
  [[nodiscard]] static StatusOr<std::unique_ptr<MappedShard>> Open(const std::string& path,
                                                                   bool verify = true);
  ~MappedShard();
  MappedShard(const MappedShard&) = delete;
  MappedShard& operator=(const MappedShard&) = delete;

  size_t num_samples() const { return num_samples_; }
  size_t num_fields() const { return num_fields_; }
  size_t num_keys() const { return num_keys_; }
  bool has_conversion() const { return conversion_ != nullptr; }
  uint64_t checksum() const { return checksum_; }
  const proto::ShardMeta& meta() const { return meta_; }

  // Views into the mapping, valid while this object lives.
  const uint64_t* offsets() const { return offsets_; }
  const uint64_t* keys() const { return keys_; }
  const float* click() const { return click_; }
  const float* conversion() const { return conversion_; }
  const int32_t* domain() const { return domain_; }
  const int64_t* timestamp() const { return timestamp_; }

  // Appends every sample to `out` (whose fields must match; CHECKed).
  void AppendTo(Dataset* out) const;

 private:
  MappedShard() = default;

  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t num_samples_ = 0;
  size_t num_fields_ = 0;
  size_t num_keys_ = 0;
  uint64_t checksum_ = 0;
  proto::ShardMeta meta_;
  const uint64_t* offsets_ = nullptr;
  const uint64_t* keys_ = nullptr;
  const float* click_ = nullptr;
  const float* conversion_ = nullptr;
  const int32_t* domain_ = nullptr;
  const int64_t* timestamp_ = nullptr;
};

}  // namespace iak::data

#endif  // IAK_DATA_SHARD_FILE_H_
