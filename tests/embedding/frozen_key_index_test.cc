#include "embedding/frozen_key_index.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <unordered_set>

namespace iak::embedding {
namespace {

TEST(EmbeddingFrozenKeyIndexTest, FindsEveryKeyAndNothingElse) {
  std::mt19937_64 rng(1);
  std::vector<uint64_t> keys = {0, 1, std::numeric_limits<uint64_t>::max()};
  std::unordered_set<uint64_t> seen(keys.begin(), keys.end());
  while (keys.size() < 10000) {
    // Half the keys differ only in their high bits, to stress the probing.
    const uint64_t key = keys.size() % 2 == 0 ? rng() : (rng() % (1u << 20)) << 44;
    if (seen.insert(key).second) keys.push_back(key);
  }
  FrozenKeyIndex index;
  index.Build(keys);
  EXPECT_EQ(index.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(index.Find(keys[i]), i);

  std::vector<uint64_t> probe;
  for (int i = 0; i < 1000; ++i) {
    uint64_t key = rng();
    if (seen.count(key) == 0) probe.push_back(key);
    probe.push_back(keys[rng() % keys.size()]);
  }
  std::vector<uint32_t> rows(probe.size());
  index.FindBatch(probe.data(), probe.size(), rows.data());
  for (size_t i = 0; i < probe.size(); ++i) {
    if (seen.count(probe[i]) == 0) {
      EXPECT_EQ(rows[i], FrozenKeyIndex::kAbsent);
    } else {
      EXPECT_EQ(keys[rows[i]], probe[i]);
    }
  }
}

// Reserve + Insert (how a shard loads without a key list) indexes exactly as
// Build does, and finds what was inserted so far.
TEST(EmbeddingFrozenKeyIndexTest, KeyByKeyEqualsBuild) {
  std::mt19937_64 rng(2);
  std::vector<uint64_t> keys;
  std::unordered_set<uint64_t> seen;
  while (keys.size() < 5000) {
    const uint64_t key = rng();
    if (seen.insert(key).second) keys.push_back(key);
  }
  FrozenKeyIndex built;
  built.Build(keys);
  FrozenKeyIndex inserted;
  inserted.Reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    inserted.Insert(keys[i]);
    if (i == 99) {
      EXPECT_EQ(inserted.Find(keys[99]), 99u);
      EXPECT_EQ(inserted.Find(keys[100]), FrozenKeyIndex::kAbsent);
    }
  }
  EXPECT_EQ(inserted.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(inserted.Find(keys[i]), i);
    ASSERT_EQ(built.Find(keys[i]), i);
  }
  EXPECT_EQ(inserted.Find(rng()), FrozenKeyIndex::kAbsent);
}

TEST(EmbeddingFrozenKeyIndexTest, EmptyIndexFindsNothing) {
  FrozenKeyIndex index;
  EXPECT_EQ(index.Find(0), FrozenKeyIndex::kAbsent);
  index.Build({});
  EXPECT_EQ(index.Find(0), FrozenKeyIndex::kAbsent);
  uint64_t key = 5;
  uint32_t row = 0;
  index.FindBatch(&key, 1, &row);
  EXPECT_EQ(row, FrozenKeyIndex::kAbsent);
}

}  // namespace
}  // namespace iak::embedding
