// DiskRowReader: serves a shard's encoded rows by point reads on its RocksDB
// (batched MultiGet through an LRU block cache) instead of from memory; used
// by EmbeddingShard when the shard is larger than its memory budget. The
// snapshot on disk is the store of record either way, so both paths return
// the same bytes.
//
// Thread-safety: Lookup may be called from any number of threads.
#ifndef IAK_EMBEDDING_DISK_ROW_READER_H_
#define IAK_EMBEDDING_DISK_ROW_READER_H_

#include <rocksdb/db.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace iak::embedding {

class DiskRowReader {
 public:
  // `db` is the opened (and already verified) shard; `directory` names it in
  // errors.
  DiskRowReader(std::unique_ptr<rocksdb::DB> db, std::string directory, size_t row_bytes)
      : db_(std::move(db)), directory_(std::move(directory)), row_bytes_(row_bytes) {}

  // Copies the encoded rows of keys[0..n) to out (n * row_bytes bytes); absent
  // keys get zero bytes. Returns how many were absent. DataLoss naming the
  // directory when a row has the wrong size or RocksDB reports corruption,
  // IoError for other read failures.
  [[nodiscard]] StatusOr<uint64_t> Lookup(const uint64_t* keys, size_t n, char* out) const;

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::string directory_;
  size_t row_bytes_;
};

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_DISK_ROW_READER_H_
