// The small model directory the fuzz targets and their seeds read: keys
// 1..num_keys with rows (0.5 k, -1, 2, 0.25), a one-task manifest.
#ifndef IAK_FUZZ_TINY_MODEL_H_
#define IAK_FUZZ_TINY_MODEL_H_

#include <cstdint>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "embedding/snapshot_writer.h"

namespace iak::fuzz {

// Aborts when the directory cannot be written (a fuzz run cannot go on).
inline void WriteTinyModel(const std::string& dir, uint64_t num_keys, int num_shards) {
  std::unordered_map<uint64_t, std::vector<float>> table;
  for (uint64_t k = 1; k <= num_keys; ++k) table[k] = {0.5f * k, -1.0f, 2.0f, 0.25f};
  embedding::SnapshotContents contents;
  contents.options.embedding_dim = 4;
  contents.options.num_shards = num_shards;
  contents.table = &table;
  contents.options.dense_blob = "dense";
  contents.options.base_manifest.set_num_tasks(1);
  contents.options.base_manifest.add_bottom_hidden(4);
  if (!embedding::WriteModelDirectory(dir, contents).ok()) std::abort();
}

}  // namespace iak::fuzz

#endif  // IAK_FUZZ_TINY_MODEL_H_
