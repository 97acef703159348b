#include "embedding/disk_row_reader.h"

#include <rocksdb/options.h>
#include <rocksdb/slice.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "embedding/shard_scan.h"
#include "embedding/snapshot_format.h"

namespace iak::embedding {
namespace {

// Keys per MultiGet: large enough to batch block reads, small enough to keep
// the pinned values' memory bounded.
constexpr size_t kMultiGetBatch = 1024;

}  // namespace

StatusOr<uint64_t> DiskRowReader::Lookup(const uint64_t* keys, size_t n, char* out) const {
  uint64_t missing = 0;
  rocksdb::ReadOptions read_options;
  read_options.verify_checksums = true;
  std::vector<char> key_bytes(std::min(n, kMultiGetBatch) * 8);
  std::vector<rocksdb::Slice> slices(std::min(n, kMultiGetBatch));
  std::vector<rocksdb::PinnableSlice> values(std::min(n, kMultiGetBatch));
  std::vector<rocksdb::Status> statuses(std::min(n, kMultiGetBatch));
  for (size_t begin = 0; begin < n; begin += kMultiGetBatch) {
    const size_t m = std::min(kMultiGetBatch, n - begin);
    for (size_t i = 0; i < m; ++i) {
      EncodeShardKey(keys[begin + i], key_bytes.data() + 8 * i);
      slices[i] = rocksdb::Slice(key_bytes.data() + 8 * i, 8);
      values[i].Reset();
    }
    db_->MultiGet(read_options, db_->DefaultColumnFamily(), m, slices.data(), values.data(),
                  statuses.data(), /*sorted_input=*/false);
    for (size_t i = 0; i < m; ++i) {
      char* dst = out + (begin + i) * row_bytes_;
      if (statuses[i].IsNotFound()) {
        std::memset(dst, 0, row_bytes_);
        ++missing;
        continue;
      }
      if (!statuses[i].ok()) {
        if (statuses[i].IsCorruption()) return ShardDataLoss(directory_, statuses[i].ToString());
        return IoError("cannot read embedding shard " + directory_ + ": " +
                       statuses[i].ToString());
      }
      if (values[i].size() != row_bytes_) {
        return ShardDataLoss(directory_, "the row of key " + std::to_string(keys[begin + i]) +
                                             " has " + std::to_string(values[i].size()) +
                                             " bytes, expected " + std::to_string(row_bytes_));
      }
      std::memcpy(dst, values[i].data(), row_bytes_);
    }
  }
  return missing;
}

}  // namespace iak::embedding
