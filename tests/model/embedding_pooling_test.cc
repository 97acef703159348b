#include "model/embedding_pooling.h"

#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/embedding_table.h"
#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::Dot;
using testing::ExpectGradNear;
using testing::NumericGrad;
using testing::RandomVector;

constexpr int kDim = 2;

// Field 0: single-valued, sum. Field 1: multi-valued, mean.
//   sample 0: f0 {10}, f1 {20, 21}
//   sample 1: f0 {11}, f1 {}           (empty -> zeros)
//   sample 2: f0 {99}, f1 {20, 99, 21} (99 is not in the table)
data::Dataset MakeDataset() {
  data::Dataset d;
  d.fields = {{"user", false, data::Pooling::kSum},
              {"tags", true, data::Pooling::kMean}};
  const std::vector<std::vector<uint64_t>> cells = {{10}, {20, 21}, {11}, {}, {99}, {20, 99, 21}};
  for (const auto& cell : cells) {
    d.keys.insert(d.keys.end(), cell.begin(), cell.end());
    d.offsets.push_back(d.keys.size());
  }
  d.click = {1, 0, 1};
  return d;
}

EmbeddingTable MakeTable() {
  return {{10, {1, 2}}, {11, {3, 4}}, {20, {10, 20}}, {21, {30, 40}}};
}

TEST(PoolBatchTest, SumAndMeanWithMissingAndEmpty) {
  const data::Dataset d = MakeDataset();
  const EmbeddingTable table = MakeTable();
  TableLookup lookup(&table);
  const uint32_t ids[] = {0, 1, 2};
  std::vector<float> x(3 * 2 * kDim, -1.0f);
  PoolBatch(d, ids, 3, kDim, lookup, x.data());
  const std::vector<float> want = {
      1, 2, 20, 30,                     // mean of (10,20), (30,40)
      3, 4, 0, 0,                       // empty field
      0, 0, 40.0f / 3, 60.0f / 3,       // missing key is a zero row
  };
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(x[i], want[i]) << i;
}

class MapSink : public RowGradientSink {
 public:
  void Add(uint64_t key, const float* grad) override {
    auto& g = grads[key];
    g.resize(kDim, 0.0f);
    for (int j = 0; j < kDim; ++j) g[j] += grad[j];
  }
  std::map<uint64_t, std::vector<float>> grads;
};

TEST(ScatterPoolGradientTest, MatchesFiniteDifferences) {
  const data::Dataset d = MakeDataset();
  EmbeddingTable table = MakeTable();
  TableLookup lookup(&table);
  const uint32_t ids[] = {2, 0, 1, 0};  // repeats accumulate
  const int batch = 4;
  std::mt19937_64 rng(61);
  const auto c = RandomVector(batch * 2 * kDim, &rng);
  std::vector<float> x(c.size());
  auto loss = [&] {
    PoolBatch(d, ids, batch, kDim, lookup, x.data());
    return Dot(x.data(), c);
  };
  MapSink sink;
  std::vector<float> scratch(kDim);
  ScatterPoolGradient(d, ids, batch, kDim, c.data(), &sink, scratch.data());
  for (auto& [key, row] : table) {
    ASSERT_TRUE(sink.grads.count(key)) << key;
    for (int j = 0; j < kDim; ++j) {
      ExpectGradNear(sink.grads[key][j], NumericGrad(loss, row.data(), j),
                     "key " + std::to_string(key));
    }
  }
  // The missing key still receives its share (the caller may create it).
  EXPECT_TRUE(sink.grads.count(99));
}

}  // namespace
}  // namespace iak::model
