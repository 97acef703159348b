#include "model/pretrainer.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "model/embedding_table.h"
#include "model/fine_tune_step.h"
#include "model/metrics.h"

namespace iak::model {
namespace {

// user (sum), item (sum), tags (multi-valued, mean). Click iff the item is
// in the "good" half; conversion iff additionally the user is even.
data::Dataset MakeDataset(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> user(0, 29), item(0, 39), tag(0, 9), ntags(0, 3);
  data::Dataset d;
  d.fields = {{"user", false, data::Pooling::kSum},
              {"item", false, data::Pooling::kSum},
              {"tags", true, data::Pooling::kMean}};
  for (int s = 0; s < n; ++s) {
    const int u = user(rng), i = item(rng);
    d.keys.push_back(FeatureKey(0, u));
    d.offsets.push_back(d.keys.size());
    d.keys.push_back(FeatureKey(1, i));
    d.offsets.push_back(d.keys.size());
    for (int t = ntags(rng); t > 0; --t) d.keys.push_back(FeatureKey(2, tag(rng)));
    d.offsets.push_back(d.keys.size());
    const float click = i < 20 ? 1.0f : 0.0f;
    d.click.push_back(click);
    d.conversion.push_back(u % 2 == 0 ? 1.0f : 0.0f);
  }
  return d;
}

PretrainOptions SmallOptions(int tasks) {
  PretrainOptions o;
  o.epochs = 4;
  o.batch_size = 64;
  o.dense_lr = 3e-3f;
  o.embedding_dim = 8;
  o.bottom_hidden = {16, 8};
  o.tower_hidden = {8};
  o.num_tasks = tasks;
  o.seed = 91;
  return o;
}

data::SampleIds AllIds(const data::Dataset& d) {
  data::SampleIds ids(d.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<uint32_t>(i);
  return ids;
}

TEST(PretrainTest, LearnsTheRuleAndIsDeterministic) {
  const data::Dataset d = MakeDataset(2000, 92);
  const data::SampleIds ids = AllIds(d);
  StatusOr<PretrainResult> a = Pretrain(d, ids, SmallOptions(1));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->epoch_losses.size(), 4u);
  EXPECT_LT(a->epoch_losses.back(), 0.5f * a->epoch_losses.front());
  EXPECT_EQ(a->table.size(), 30u + 40u + 10u);

  // Scores from the returned model and table separate the classes.
  TableLookup lookup(&a->table);
  const int n = static_cast<int>(d.size());
  std::vector<float> x(static_cast<size_t>(n) * 3 * 8), p(n);
  PoolBatch(d, ids.data(), n, 8, lookup, x.data());
  FineTuneStep step;
  step.Predict(a->model, nullptr, x.data(), n, p.data(), nullptr);
  StatusOr<double> auc = RocAuc(p, d.click);
  ASSERT_TRUE(auc.ok());
  EXPECT_GT(*auc, 0.95);

  StatusOr<PretrainResult> b = Pretrain(d, ids, SmallOptions(1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->epoch_losses, b->epoch_losses);
  EXPECT_EQ(a->model.params(), b->model.params());
  EXPECT_EQ(a->table, b->table);
}

TEST(PretrainTest, EsmmTrains) {
  const data::Dataset d = MakeDataset(1000, 93);
  StatusOr<PretrainResult> r = Pretrain(d, AllIds(d), SmallOptions(2));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model.config().num_tasks, 2);
  EXPECT_LT(r->epoch_losses.back(), r->epoch_losses.front());
}

TEST(PretrainTest, RejectsBadInput) {
  data::Dataset d = MakeDataset(10, 94);
  EXPECT_EQ(Pretrain(d, {}, SmallOptions(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Pretrain(d, {10}, SmallOptions(1)).status().code(), StatusCode::kInvalidArgument);
  d.conversion.clear();
  EXPECT_EQ(Pretrain(d, AllIds(d), SmallOptions(2)).status().code(),
            StatusCode::kInvalidArgument);
  PretrainOptions o = SmallOptions(1);
  o.batch_size = 0;
  EXPECT_EQ(Pretrain(d, AllIds(d), o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iak::model
