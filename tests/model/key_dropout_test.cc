// Key dropout in the pre-trainer (PretrainOptions::key_dropout).
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "model/embedding_table.h"
#include "model/fine_tune_step.h"
#include "model/pretrainer.h"

namespace iak::model {
namespace {

// user, movie; click iff the movie is in the good half.
data::Dataset MakeDataset(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> user(0, 29), item(0, 39);
  data::Dataset d;
  d.fields = {{"user", false, data::Pooling::kSum}, {"movie", false, data::Pooling::kSum}};
  for (int s = 0; s < n; ++s) {
    const int u = user(rng), i = item(rng);
    d.keys.push_back(FeatureKey(0, u));
    d.offsets.push_back(d.keys.size());
    d.keys.push_back(FeatureKey(1, i));
    d.offsets.push_back(d.keys.size());
    d.click.push_back(i < 20 ? 1.0f : 0.0f);
  }
  return d;
}

PretrainOptions Options(float dropout) {
  PretrainOptions o;
  o.epochs = 2;
  o.batch_size = 64;
  o.embedding_dim = 4;
  o.bottom_hidden = {8, 4};
  o.tower_hidden = {4};
  o.seed = 5;
  o.key_dropout = dropout;
  return o;
}

data::SampleIds AllIds(const data::Dataset& d) {
  data::SampleIds ids(d.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<uint32_t>(i);
  return ids;
}

TEST(KeyDropoutTest, OutOfRangeProbabilityIsRefused) {
  const data::Dataset d = MakeDataset(100, 1);
  EXPECT_FALSE(Pretrain(d, AllIds(d), Options(1.0f)).ok());
  EXPECT_FALSE(Pretrain(d, AllIds(d), Options(-0.1f)).ok());
}

TEST(KeyDropoutTest, DeterministicAndChangesTraining) {
  const data::Dataset d = MakeDataset(1000, 2);
  StatusOr<PretrainResult> off = Pretrain(d, AllIds(d), Options(0.0f));
  StatusOr<PretrainResult> on1 = Pretrain(d, AllIds(d), Options(0.3f));
  StatusOr<PretrainResult> on2 = Pretrain(d, AllIds(d), Options(0.3f));
  ASSERT_TRUE(off.ok() && on1.ok() && on2.ok());
  EXPECT_EQ(on1->model.params(), on2->model.params());
  EXPECT_NE(on1->model.params(), off->model.params());
  // Fields not named are never dropped: with only an unknown field named, the
  // run equals the run without dropout.
  PretrainOptions other = Options(0.3f);
  other.key_dropout_fields = {"no_such_field"};
  StatusOr<PretrainResult> unnamed = Pretrain(d, AllIds(d), other);
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ(unnamed->model.params(), off->model.params());
}

// With dropout the base model has seen zero user rows, so its predictions for
// an unknown user still rank the good movies first.
TEST(KeyDropoutTest, UnknownUserStillRanksByMovie) {
  const data::Dataset d = MakeDataset(3000, 3);
  StatusOr<PretrainResult> on = Pretrain(d, AllIds(d), Options(0.3f));
  ASSERT_TRUE(on.ok());
  TableLookup rows(&on->table);
  std::vector<float> x(static_cast<size_t>(40) * 8, 0.0f);
  for (int i = 0; i < 40; ++i) {
    const float* row = rows.Find(FeatureKey(1, i));
    ASSERT_NE(row, nullptr);
    for (int j = 0; j < 4; ++j) x[static_cast<size_t>(i) * 8 + 4 + j] = row[j];  // user row zero
  }
  std::vector<float> p(40);
  FineTuneStep step;
  step.Predict(on->model, nullptr, x.data(), 40, p.data(), nullptr);
  float worst_good = 1, best_bad = 0;
  for (int i = 0; i < 20; ++i) worst_good = std::min(worst_good, p[i]);
  for (int i = 20; i < 40; ++i) best_bad = std::max(best_bad, p[i]);
  EXPECT_GT(worst_good, best_bad);
}

}  // namespace
}  // namespace iak::model
