#include "embedding/snapshot_writer.h"

#include <algorithm>
#include <memory>

#include "common/keys.h"
#include "embedding/snapshot_stream_writer.h"

namespace iak::embedding {
namespace {

// Where the rows of a table come from: a map or parallel arrays.
class RowSource {
 public:
  explicit RowSource(const SnapshotContents& contents) : contents_(contents) {}
  const float* Row(uint64_t key, size_t index) const {
    if (contents_.table != nullptr) return contents_.table->at(key).data();
    return contents_.values->data() + index * static_cast<size_t>(contents_.options.embedding_dim);
  }
  // The row already encoded, or nullptr when rows are given as floats.
  const char* EncodedRow(size_t index, size_t row_bytes) const {
    if (contents_.encoded_values == nullptr) return nullptr;
    return contents_.encoded_values->data() + index * row_bytes;
  }

 private:
  const SnapshotContents& contents_;
};

struct ShardEntry {
  uint64_t key;
  size_t index;  // row index in the arrays (unused for a map)
};

}  // namespace

Status WriteModelDirectory(const std::string& dir, const SnapshotContents& contents) {
  const int dim = contents.options.embedding_dim;
  const int num_shards = contents.options.num_shards;
  if (dim <= 0) return InvalidArgumentError("embedding_dim must be positive, got " + std::to_string(dim));
  if (num_shards <= 0) {
    return InvalidArgumentError("num_shards must be positive, got " + std::to_string(num_shards));
  }
  const bool has_map = contents.table != nullptr;
  const bool has_arrays = contents.keys != nullptr || contents.values != nullptr ||
                          contents.encoded_values != nullptr;
  if (!has_map && !has_arrays) return InvalidArgumentError("no embedding table to write");
  if (has_map && has_arrays) {
    return InvalidArgumentError("give the embedding table either as a map or as arrays, not both");
  }

  // Sort keys into shards first: a bad row is refused before anything is written.
  std::vector<std::vector<ShardEntry>> shard_entries(num_shards);
  if (has_map) {
    for (const auto& [key, row] : *contents.table) {
      if (row.size() != static_cast<size_t>(dim)) {
        return InvalidArgumentError("the row of key " + std::to_string(key) + " has " +
                                    std::to_string(row.size()) + " values, expected " +
                                    std::to_string(dim));
      }
      shard_entries[ShardOfKey(key, num_shards)].push_back(ShardEntry{key, 0});
    }
  } else {
    if (contents.keys == nullptr ||
        (contents.values == nullptr) == (contents.encoded_values == nullptr)) {
      return InvalidArgumentError(
          "an embedding table given as arrays needs keys and either values or encoded values");
    }
    const std::vector<uint64_t>& keys = *contents.keys;
    if (contents.encoded_values != nullptr) {
      const size_t row_bytes = EncodedRowBytes(dim, contents.options.dtype);
      if (contents.encoded_values->size() != keys.size() * row_bytes) {
        return InvalidArgumentError(std::to_string(keys.size()) + " keys need " +
                                    std::to_string(keys.size() * row_bytes) + " bytes of " +
                                    RowDtypeName(contents.options.dtype) + " rows at dim " +
                                    std::to_string(dim) + ", got " +
                                    std::to_string(contents.encoded_values->size()));
      }
    } else if (contents.values->size() != keys.size() * static_cast<size_t>(dim)) {
      return InvalidArgumentError(std::to_string(keys.size()) + " keys need " +
                                  std::to_string(keys.size() * static_cast<size_t>(dim)) +
                                  " values at dim " + std::to_string(dim) + ", got " +
                                  std::to_string(contents.values->size()));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      shard_entries[ShardOfKey(keys[i], num_shards)].push_back(ShardEntry{keys[i], i});
    }
  }
  for (auto& entries : shard_entries) {
    std::sort(entries.begin(), entries.end(),
              [](const ShardEntry& a, const ShardEntry& b) { return a.key < b.key; });
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].key == entries[i - 1].key) {
        return InvalidArgumentError("key " + std::to_string(entries[i].key) +
                                    " appears twice (rows " +
                                    std::to_string(entries[i - 1].index) + " and " +
                                    std::to_string(entries[i].index) + ")");
      }
    }
  }
  // Each shard's rows go to the writer in key order: hashed as they go.
  const RowSource source(contents);
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotStreamWriter> writer,
                       SnapshotStreamWriter::Open(dir, contents.options));
  const size_t row_bytes = EncodedRowBytes(dim, contents.options.dtype);
  for (const std::vector<ShardEntry>& entries : shard_entries) {
    for (const ShardEntry& entry : entries) {
      const char* encoded = source.EncodedRow(entry.index, row_bytes);
      IAK_RETURN_IF_ERROR(encoded != nullptr
                              ? writer->AddEncoded(entry.key, encoded)
                              : writer->Add(entry.key, source.Row(entry.key, entry.index)));
    }
  }
  return writer->Finish().status();
}

}  // namespace iak::embedding
