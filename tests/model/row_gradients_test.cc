// The pooled-input -> per-key row gradient mapping of full fine-tuning, and
// DenseTrainStep's parameter gradients, against finite differences of the
// whole chain: rows -> PoolBatch (sum and mean fields, duplicate keys) ->
// base model -> task loss.
#include "model/row_gradients.h"

#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/base_model.h"
#include "model/dense_train_step.h"
#include "model/embedding_table.h"
#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::ExpectGradNear;
using testing::NumericGrad;
using testing::RandomVector;

constexpr int kDim = 3;

// Field 0: single-valued, sum. Field 1: multi-valued, mean, with duplicates:
//   sample 0: f0 {10}, f1 {20, 20, 21}   (20 twice in one field)
//   sample 1: f0 {11}, f1 {21}
//   sample 2: f0 {10}, f1 {}             (10 again, in another sample)
data::Dataset MakeDataset() {
  data::Dataset d;
  d.fields = {{"user", false, data::Pooling::kSum}, {"tags", true, data::Pooling::kMean}};
  const std::vector<std::vector<uint64_t>> cells = {{10}, {20, 20, 21}, {11}, {21}, {10}, {}};
  for (const auto& cell : cells) {
    d.keys.insert(d.keys.end(), cell.begin(), cell.end());
    d.offsets.push_back(d.keys.size());
  }
  d.click = {1, 0, 1};
  return d;
}

struct Fixture {
  data::Dataset data = MakeDataset();
  EmbeddingTable table;
  BaseModel model;
  std::vector<uint32_t> ids{0, 1, 2};
  std::vector<float> click{1, 0, 1};
  DenseTrainStep step;

  Fixture() : model(Config()) {
    std::mt19937_64 rng(7);
    for (uint64_t key : {10, 11, 20, 21}) table[key] = RandomVector(kDim, &rng, 0.5f);
    model.Init(3);
  }
  static BaseModelConfig Config() {
    BaseModelConfig c;
    c.embedding_dim = kDim;
    c.num_fields = 2;
    c.bottom_hidden = {5, 4};
    c.tower_hidden = {3};
    return c;
  }
  // Mean loss of the batch; dx when not null.
  double Loss(float* dx = nullptr) {
    TableLookup lookup(&table);
    std::vector<float> x(ids.size() * 2 * kDim);
    PoolBatch(data, ids.data(), static_cast<int>(ids.size()), kDim, lookup, x.data());
    return step.Run(&model, x.data(), static_cast<int>(ids.size()), click.data(), nullptr, dx);
  }
};

TEST(RowGradientsTest, MatchesFiniteDifferencesThroughPoolingAndTheModel) {
  Fixture f;
  std::vector<float> dx(f.ids.size() * 2 * kDim);
  f.Loss(dx.data());
  RowGradients grads(kDim);
  grads.Collect(f.data, f.ids.data(), static_cast<int>(f.ids.size()), dx.data());
  // Every touched key once, in first-seen order.
  ASSERT_EQ(grads.keys(), (std::vector<uint64_t>{10, 20, 21, 11}));
  ASSERT_EQ(grads.grads().size(), 4u * kDim);
  for (size_t k = 0; k < grads.keys().size(); ++k) {
    std::vector<float>& row = f.table[grads.keys()[k]];
    for (int j = 0; j < kDim; ++j) {
      const double numeric = NumericGrad([&] { return f.Loss(); }, row.data(), j);
      ExpectGradNear(grads.grads()[k * kDim + j], numeric,
                     "key " + std::to_string(grads.keys()[k]) + " dim " + std::to_string(j));
    }
  }
  // The chain is not trivially zero.
  double norm = 0;
  for (float g : grads.grads()) norm += std::abs(g);
  EXPECT_GT(norm, 1e-4);
}

TEST(RowGradientsTest, DuplicatesAddAndMeanPoolingDivides) {
  data::Dataset d = MakeDataset();
  const uint32_t ids[] = {0};
  // dx of sample 0: field 0 = (1,2,3), field 1 = (3,6,9).
  const std::vector<float> dx = {1, 2, 3, 3, 6, 9};
  RowGradients grads(kDim);
  grads.Collect(d, ids, 1, dx.data());
  ASSERT_EQ(grads.keys(), (std::vector<uint64_t>{10, 20, 21}));
  const std::vector<float> want = {1, 2, 3,   // sum field: the slice itself
                                   2, 4, 6,   // 20 twice in a mean field of 3 keys: 2/3
                                   1, 2, 3};  // 21 once: 1/3
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(grads.grads()[i], want[i]) << i;
  grads.Scale(0.5f);
  EXPECT_FLOAT_EQ(grads.grads()[3], 1.0f);
  // Collect starts afresh.
  grads.Collect(d, ids, 1, dx.data());
  EXPECT_FLOAT_EQ(grads.grads()[3], 2.0f);
}

TEST(DenseTrainStepTest, ParameterGradientsMatchFiniteDifferences) {
  Fixture f;
  f.Loss();
  const std::vector<float> analytic = f.model.grads();
  ASSERT_EQ(analytic.size(), f.model.num_params());
  for (size_t i = 0; i < analytic.size(); ++i) {
    const double numeric = NumericGrad([&] { return f.Loss(); }, f.model.mutable_params(), i);
    ExpectGradNear(analytic[i], numeric, "param " + std::to_string(i));
  }
}

}  // namespace
}  // namespace iak::model
