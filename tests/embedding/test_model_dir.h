// Helpers shared by the embedding and PS tests: a self-deleting temporary
// directory and a seeded random embedding table.
#ifndef IAK_TESTS_EMBEDDING_TEST_MODEL_DIR_H_
#define IAK_TESTS_EMBEDDING_TEST_MODEL_DIR_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "embedding/snapshot_writer.h"

namespace iak::embedding::testing {

using Table = std::unordered_map<uint64_t, std::vector<float>>;

// A fresh directory under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "iak-embedding-XXXXXX";
    char* made = mkdtemp(pattern.data());
    CHECK(made != nullptr) << "mkdtemp " << pattern;
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `num_keys` random keys (plus the edge keys 0 and 2^64-1) with random rows.
inline Table RandomTable(uint64_t seed, size_t num_keys, int dim) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> value(0.0f, 1.0f);
  Table table;
  std::vector<uint64_t> keys = {0, std::numeric_limits<uint64_t>::max()};
  while (keys.size() < num_keys + 2) keys.push_back(rng());
  for (uint64_t key : keys) {
    std::vector<float>& row = table[key];
    row.resize(dim);
    for (float& v : row) v = value(rng);
  }
  return table;
}

// Keys guaranteed absent from `table`.
inline std::vector<uint64_t> AbsentKeys(const Table& table, uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> keys;
  while (keys.size() < n) {
    const uint64_t key = rng();
    if (table.count(key) == 0) keys.push_back(key);
  }
  return keys;
}

inline SnapshotContents ContentsOf(const Table& table, int dim, int num_shards) {
  SnapshotContents contents;
  contents.options.embedding_dim = dim;
  contents.options.num_shards = num_shards;
  contents.table = &table;
  contents.options.dense_blob = std::string("dense weights \x01\x02\x03 of a test model", 33);
  contents.options.base_manifest.set_num_tasks(2);
  contents.options.base_manifest.add_bottom_hidden(16);
  contents.options.base_manifest.set_data_description("random test table");
  return contents;
}

}  // namespace iak::embedding::testing

#endif  // IAK_TESTS_EMBEDDING_TEST_MODEL_DIR_H_
