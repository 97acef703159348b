// Rows created on first push from a seeded per-key init
// (RowOptimizerOptions.init_scale, SeededInitRow): the init is a pure
// function of (seed, key, column), so a row starts the same however the keys
// are sharded, batched or ordered.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "common/keys.h"
#include "ps/sparse_row_optimizer.h"
#include "ps/trainable_options.h"

namespace iak::ps {
namespace {

constexpr int kDim = 8;

// A snapshot with no rows.
SparseRowOptimizer::BaseReader EmptySnapshot() {
  return [](const uint64_t*, size_t n, float* out, std::vector<bool>* present) {
    present->assign(n, false);
    std::fill(out, out + n * kDim, 0.0f);
    return Status::Ok();
  };
}

RowOptimizerOptions InitOptions() {
  RowOptimizerOptions o;
  o.learning_rate = 0.05f;
  o.init_scale = 0.05f;
  o.init_seed = 17;
  return o;
}

TEST(SeededInitTest, UniformInTheScaleAndAPureFunctionOfSeedKeyColumn) {
  std::vector<float> a(kDim), b(kDim), c(kDim);
  SeededInitRow(17, 0.05f, 42, kDim, a.data());
  SeededInitRow(17, 0.05f, 42, kDim, b.data());
  EXPECT_EQ(a, b);
  SeededInitRow(18, 0.05f, 42, kDim, c.data());
  EXPECT_NE(a, c);
  SeededInitRow(17, 0.05f, 43, kDim, c.data());
  EXPECT_NE(a, c);
  // A longer row starts with the same columns (column j depends on j only).
  std::vector<float> wide(2 * kDim);
  SeededInitRow(17, 0.05f, 42, 2 * kDim, wide.data());
  EXPECT_EQ(std::vector<float>(wide.begin(), wide.begin() + kDim), a);
  // Many values: inside [-s, s), mean near 0, variance near s^2/3.
  double sum = 0, sq = 0;
  const int keys = 5000;
  std::vector<float> row(kDim);
  for (int k = 0; k < keys; ++k) {
    SeededInitRow(1, 0.05f, FeatureKey(0, k), kDim, row.data());
    for (float v : row) {
      ASSERT_GE(v, -0.05f);
      ASSERT_LT(v, 0.05f);
      sum += v;
      sq += static_cast<double>(v) * v;
    }
  }
  const double n = static_cast<double>(keys) * kDim;
  EXPECT_NEAR(sum / n, 0.0, 0.001);
  EXPECT_NEAR(sq / n, 0.05 * 0.05 / 3, 0.00005);
}

TEST(SeededInitTest, AbsentRowIsZeroWithoutInitScale) {
  SparseRowOptimizer plain(kDim, RowOptimizerOptions(), EmptySnapshot());
  std::vector<float> row(kDim, 1.0f);
  plain.AbsentRow(5, row.data());
  EXPECT_EQ(row, std::vector<float>(kDim, 0.0f));
  SparseRowOptimizer seeded(kDim, InitOptions(), EmptySnapshot());
  seeded.AbsentRow(5, row.data());
  std::vector<float> expected(kDim);
  SeededInitRow(17, 0.05f, 5, kDim, expected.data());
  EXPECT_EQ(row, expected);
}

// One Adagrad step from the init row: w = init - lr * g / (|g| + eps).
TEST(SeededInitTest, FirstPushStepsFromTheInitRow) {
  SparseRowOptimizer opt(kDim, InitOptions(), EmptySnapshot());
  const uint64_t key = 99;
  std::vector<float> grad(kDim);
  for (int j = 0; j < kDim; ++j) grad[j] = 0.1f * static_cast<float>(j - 3);
  uint64_t created = 0;
  StatusOr<uint64_t> applied = opt.Apply(&key, 1, grad.data(), &created);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 1u);
  EXPECT_EQ(created, 1u);
  std::vector<float> init(kDim);
  SeededInitRow(17, 0.05f, key, kDim, init.data());
  const float* row = opt.Find(key, nullptr);
  ASSERT_NE(row, nullptr);
  for (int j = 0; j < kDim; ++j) {
    const float g = grad[j];
    const float expected = init[j] - 0.05f * g / (std::sqrt(g * g) + 1e-8f);
    EXPECT_EQ(row[j], expected) << j;
  }
}

// The same pushes through 1 store, or 3 stores by shard in reversed order
// and split into single-key pushes: every row ends bit for bit the same.
TEST(SeededInitTest, RowsDoNotDependOnShardingOrPushOrder) {
  std::vector<uint64_t> keys;
  for (int k = 0; k < 200; ++k) keys.push_back(FeatureKey(k % 3, k));
  std::vector<float> grads(keys.size() * kDim);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = std::sin(static_cast<float>(i));
  SparseRowOptimizer whole(kDim, InitOptions(), EmptySnapshot());
  ASSERT_TRUE(whole.Apply(keys.data(), keys.size(), grads.data(), nullptr).ok());
  std::vector<SparseRowOptimizer> shards(3, SparseRowOptimizer(kDim, InitOptions(),
                                                              EmptySnapshot()));
  for (size_t i = keys.size(); i-- > 0;) {
    SparseRowOptimizer& shard = shards[static_cast<size_t>(ShardOfKey(keys[i], 3))];
    ASSERT_TRUE(shard.Apply(&keys[i], 1, grads.data() + i * kDim, nullptr).ok());
  }
  size_t rows = 0;
  for (const SparseRowOptimizer& shard : shards) {
    rows += shard.num_rows();
    shard.ForEach([&](uint64_t key, const float* row) {
      const float* same = whole.Find(key, nullptr);
      ASSERT_NE(same, nullptr);
      EXPECT_TRUE(std::equal(row, row + kDim, same)) << key;
    });
  }
  EXPECT_EQ(rows, keys.size());
}

TEST(SeededInitTest, SpecFieldsReachTheOptimizerOptions) {
  proto::TrainableSpec spec;
  spec.set_learning_rate(0.05f);
  spec.set_init_scale(0.01f);
  spec.set_init_seed(3);
  StatusOr<RowOptimizerOptions> options = RowOptimizerOptionsFor(spec);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->init_scale, 0.01f);
  EXPECT_EQ(options->init_seed, 3u);
  spec.set_init_scale(-1);
  EXPECT_EQ(RowOptimizerOptionsFor(spec).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iak::ps
