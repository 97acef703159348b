#include "worker/frozen_prefix_cache.h"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace iak::worker {
namespace {

std::vector<float> Rows(int n, int width, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> value;
  std::vector<float> v(static_cast<size_t>(n) * width);
  for (float& x : v) x = value(rng);
  return v;
}

TEST(FrozenPrefixCacheTest, StoresInMemoryThenSpillsAndReturnsTheSameBits) {
  const int width = 5;
  const std::string spill = ::testing::TempDir() + "fpc-" + std::to_string(::getpid()) + ".bin";
  FrozenPrefixCacheOptions options;
  options.width = width;
  options.num_samples = 100;
  options.memory_budget_bytes = 3 * width * sizeof(float);  // three rows in memory
  options.spill_path = spill;
  auto cache = FrozenPrefixCache::Create(options);
  ASSERT_TRUE(cache.ok()) << cache.status();
  const std::vector<uint32_t> ids = {7, 3, 99, 0, 42};
  const std::vector<float> h = Rows(5, width, 1);
  EXPECT_FALSE((*cache)->ContainsAll(ids.data(), 5));
  ASSERT_TRUE((*cache)->Put(ids.data(), 5, h.data()).ok());
  EXPECT_TRUE((*cache)->ContainsAll(ids.data(), 5));
  EXPECT_EQ((*cache)->stats().memory_rows, 3u);
  EXPECT_EQ((*cache)->stats().disk_rows, 2u);
  EXPECT_TRUE(std::filesystem::exists(spill));

  // A second Put of the same ids keeps the first rows.
  const std::vector<float> other = Rows(5, width, 2);
  ASSERT_TRUE((*cache)->Put(ids.data(), 5, other.data()).ok());
  const std::vector<uint32_t> shuffled = {42, 0, 7, 99, 3};
  std::vector<float> got(h.size());
  ASSERT_TRUE((*cache)->Get(shuffled.data(), 5, got.data()).ok());
  const std::vector<int> where = {4, 3, 0, 2, 1};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < width; ++j) EXPECT_EQ(got[i * width + j], h[where[i] * width + j]);
  }
  const uint32_t missing = 5;
  EXPECT_FALSE((*cache)->Get(&missing, 1, got.data()).ok());
  const uint32_t too_big = 100;
  EXPECT_EQ((*cache)->Put(&too_big, 1, h.data()).code(), StatusCode::kInvalidArgument);
  cache->reset();
  EXPECT_FALSE(std::filesystem::exists(spill));
}

TEST(FrozenPrefixCacheTest, WithoutSpillFileRowsPastTheBudgetAreNotCached) {
  FrozenPrefixCacheOptions options;
  options.width = 2;
  options.num_samples = 10;
  options.memory_budget_bytes = 2 * 2 * sizeof(float);
  auto cache = FrozenPrefixCache::Create(options);
  ASSERT_TRUE(cache.ok());
  const std::vector<uint32_t> ids = {1, 2, 3};
  const std::vector<float> h = Rows(3, 2, 3);
  ASSERT_TRUE((*cache)->Put(ids.data(), 3, h.data()).ok());
  EXPECT_TRUE((*cache)->ContainsAll(ids.data(), 2));
  EXPECT_FALSE((*cache)->ContainsAll(ids.data(), 3));
}

TEST(FrozenPrefixCacheTest, UnwritableSpillFileIsAClearError) {
  FrozenPrefixCacheOptions options;
  options.width = 2;
  options.num_samples = 10;
  options.memory_budget_bytes = 0;
  options.spill_path = "/nonexistent-dir/spill.bin";
  auto cache = FrozenPrefixCache::Create(options);
  ASSERT_TRUE(cache.ok());
  const uint32_t id = 1;
  const float h[2] = {1, 2};
  Status put = (*cache)->Put(&id, 1, h);
  EXPECT_EQ(put.code(), StatusCode::kIoError);
  EXPECT_NE(put.message().find("/nonexistent-dir/spill.bin"), std::string::npos) << put;
  options.width = 0;
  EXPECT_EQ(FrozenPrefixCache::Create(options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iak::worker
