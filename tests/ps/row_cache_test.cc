// RowCache: exact rows back, bounded size, hot keys survive a stream of
// one-off keys, hit rate counted.
#include "ps/row_cache.h"

#include <gtest/gtest.h>

#include <vector>

namespace iak::ps {
namespace {

std::vector<float> RowOf(uint64_t key, int dim) {
  std::vector<float> row(dim);
  for (int i = 0; i < dim; ++i) row[i] = static_cast<float>(key) * 0.5f + static_cast<float>(i);
  return row;
}

TEST(PsRowCacheTest, ReturnsExactRowsAndCountsHits) {
  constexpr int kDim = 4;
  RowCache cache(kDim, 1 << 20);
  ASSERT_GT(cache.capacity(), 100u);
  EXPECT_EQ(cache.Find(7), nullptr);
  for (uint64_t key = 0; key < 100; ++key) cache.Insert(key, RowOf(key, kDim).data());
  EXPECT_EQ(cache.size(), 100u);
  for (uint64_t key = 0; key < 100; ++key) {
    const float* row = cache.Find(key);
    ASSERT_NE(row, nullptr) << key;
    EXPECT_EQ(std::vector<float>(row, row + kDim), RowOf(key, kDim));
  }
  EXPECT_EQ(cache.hits(), 100u);
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_NEAR(cache.hit_rate(), 100.0 / 101.0, 1e-12);
}

TEST(PsRowCacheTest, StaysWithinBudgetAndKeepsHotKeys) {
  constexpr int kDim = 8;
  const uint64_t budget = 64 * 1024;
  RowCache cache(kDim, budget);
  const size_t capacity = cache.capacity();
  ASSERT_GT(capacity, 0u);
  EXPECT_LE(capacity * (kDim * sizeof(float) + 16), budget);
  // 32 hot keys touched between every few cold ones.
  for (uint64_t cold = 1000; cold < 1000 + 20 * capacity; ++cold) {
    if (cold % 4 == 0) {
      for (uint64_t hot = 0; hot < 32; ++hot) {
        if (cache.Find(hot) == nullptr) cache.Insert(hot, RowOf(hot, kDim).data());
      }
    }
    if (cache.Find(cold) == nullptr) cache.Insert(cold, RowOf(cold, kDim).data());
  }
  EXPECT_LE(cache.size(), capacity);
  int hot_present = 0;
  for (uint64_t hot = 0; hot < 32; ++hot) {
    const float* row = cache.Find(hot);
    if (row != nullptr) {
      ++hot_present;
      EXPECT_EQ(std::vector<float>(row, row + kDim), RowOf(hot, kDim));
    }
  }
  EXPECT_EQ(hot_present, 32);
}

TEST(PsRowCacheTest, TinyBudgetHoldsNothing) {
  RowCache cache(16, 10);
  EXPECT_EQ(cache.capacity(), 0u);
  std::vector<float> row(16, 1.0f);
  cache.Insert(1, row.data());
  EXPECT_EQ(cache.Find(1), nullptr);
  EXPECT_EQ(cache.misses(), 1u);
}

}  // namespace
}  // namespace iak::ps
