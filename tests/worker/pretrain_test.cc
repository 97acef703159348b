// Pre-training through the one Trainer in one process (worker/pretrain_job.h
// PretrainOnSamples): the base learns, is deterministic, trains ESMM, refuses
// bad input, and key dropout (worker/key_dropout.h) does what it says.
#include "worker/pretrain_job.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "model/embedding_table.h"
#include "model/fine_tune_step.h"
#include "model/metrics.h"
#include "ps/sparse_row_optimizer.h"
#include "worker/key_dropout.h"

namespace iak::worker {
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
    d.click.push_back(i < 20 ? 1.0f : 0.0f);
    d.conversion.push_back(u % 2 == 0 ? 1.0f : 0.0f);
  }
  return d;
}

PretrainOptions SmallOptions() {
  PretrainOptions o;
  o.epochs = 4;
  o.batch_size = 64;
  o.dense_lr = 3e-3f;
  o.embedding_dim = 8;
  o.bottom_hidden = {16, 8};
  o.tower_hidden = {8};
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
  StatusOr<PretrainedBase> a = PretrainOnSamples(d, ids, SmallOptions(), 1);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->epoch_losses.size(), 4u);
  EXPECT_LT(a->epoch_losses.back(), 0.5f * a->epoch_losses.front());
  EXPECT_EQ(a->table.size(), 30u + 40u + 10u);

  // Scores from the returned model and table separate the classes.
  model::TableLookup lookup(&a->table);
  const int n = static_cast<int>(d.size());
  std::vector<float> x(static_cast<size_t>(n) * 3 * 8), p(n);
  model::PoolBatch(d, ids.data(), n, 8, lookup, x.data());
  model::FineTuneStep step;
  step.Predict(a->model, nullptr, x.data(), n, p.data(), nullptr);
  StatusOr<double> auc = model::RocAuc(p, d.click);
  ASSERT_TRUE(auc.ok());
  EXPECT_GT(*auc, 0.95);

  StatusOr<PretrainedBase> b = PretrainOnSamples(d, ids, SmallOptions(), 1);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->epoch_losses, b->epoch_losses);
  EXPECT_EQ(a->model.params(), b->model.params());
  EXPECT_EQ(a->table, b->table);
}

// Rows start from the seeded init (ps/sparse_row_optimizer.h SeededInitRow):
// with a negligible row learning rate every trained row is still within a
// hair of its init row; the rows of an ordinary run moved away from it.
TEST(PretrainTest, RowsStartFromTheSeededInit) {
  const data::Dataset d = MakeDataset(400, 95);
  PretrainOptions o = SmallOptions();
  o.epochs = 1;
  o.embedding_lr = 1e-7f;
  StatusOr<PretrainedBase> still = PretrainOnSamples(d, AllIds(d), o, 1);
  ASSERT_TRUE(still.ok()) << still.status();
  ASSERT_EQ(still->table.size(), 30u + 40u + 10u);
  std::vector<float> init(8);
  for (const auto& [key, row] : still->table) {
    ps::SeededInitRow(o.seed ^ 0x726f7773ULL, o.embedding_init_scale, key, 8, init.data());
    for (int j = 0; j < 8; ++j) EXPECT_NEAR(row[j], init[j], 1e-5) << key;
  }
  StatusOr<PretrainedBase> moved = PretrainOnSamples(d, AllIds(d), SmallOptions(), 1);
  ASSERT_TRUE(moved.ok());
  double change = 0;
  for (const auto& [key, row] : moved->table) {
    const std::vector<float>& start = still->table.at(key);
    for (int j = 0; j < 8; ++j) change = std::max<double>(change, std::fabs(row[j] - start[j]));
  }
  EXPECT_GT(change, 0.05);
}

TEST(PretrainTest, EsmmTrains) {
  const data::Dataset d = MakeDataset(1000, 93);
  StatusOr<PretrainedBase> r = PretrainOnSamples(d, AllIds(d), SmallOptions(), 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model.config().num_tasks, 2);
  EXPECT_LT(r->epoch_losses.back(), r->epoch_losses.front());
}

TEST(PretrainTest, RejectsBadInput) {
  data::Dataset d = MakeDataset(10, 94);
  EXPECT_EQ(PretrainOnSamples(d, {}, SmallOptions(), 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PretrainOnSamples(d, {10}, SmallOptions(), 1).status().code(),
            StatusCode::kInvalidArgument);
  d.conversion.clear();
  EXPECT_EQ(PretrainOnSamples(d, AllIds(d), SmallOptions(), 2).status().code(),
            StatusCode::kInvalidArgument);
  PretrainOptions o = SmallOptions();
  o.batch_size = 0;
  EXPECT_EQ(PretrainOnSamples(d, AllIds(d), o, 1).status().code(), StatusCode::kInvalidArgument);
}

// Key dropout: user, movie; click iff the movie is in the good half.
data::Dataset UserMovieDataset(int n, uint64_t seed) {
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

PretrainOptions DropoutOptions(float dropout) {
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

TEST(KeyDropoutTest, OutOfRangeProbabilityIsRefused) {
  const data::Dataset d = UserMovieDataset(100, 1);
  EXPECT_FALSE(PretrainOnSamples(d, AllIds(d), DropoutOptions(1.0f), 1).ok());
  EXPECT_FALSE(PretrainOnSamples(d, AllIds(d), DropoutOptions(-0.1f), 1).ok());
}

TEST(KeyDropoutTest, DrawsArePureFunctionsOfStepSampleAndField) {
  const data::Dataset d = UserMovieDataset(10, 1);
  proto::PretrainSpec spec;
  spec.set_key_dropout(0.5f);
  StatusOr<KeyDropout> a = KeyDropout::For(spec, d, 2, 7);
  ASSERT_TRUE(a.ok());
  KeyDropout b = *a;
  // Sample 3 at step 11 is dropped the same in a batch of its own and in
  // one where it comes second.
  const uint32_t alone[] = {3};
  const uint32_t pair[] = {8, 3};
  std::vector<float> x1(4, 1.0f), x2(8, 1.0f);
  a->Draw(11, alone, 1);
  a->Apply(x1.data(), 1);
  b.Draw(11, pair, 2);
  b.Apply(x2.data(), 2);
  EXPECT_EQ(std::vector<float>(x2.begin() + 4, x2.end()), x1);
  // About half of many draws are dropped.
  std::vector<uint32_t> ids(2000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<uint32_t>(i);
  std::vector<float> x(ids.size() * 4, 1.0f);
  a->Draw(1, ids.data(), static_cast<int>(ids.size()));
  a->Apply(x.data(), static_cast<int>(ids.size()));
  size_t zero = 0;
  for (float v : x) zero += v == 0.0f;
  EXPECT_NEAR(static_cast<double>(zero) / x.size(), 0.5, 0.03);
}

TEST(KeyDropoutTest, DeterministicAndChangesTraining) {
  const data::Dataset d = UserMovieDataset(1000, 2);
  StatusOr<PretrainedBase> off = PretrainOnSamples(d, AllIds(d), DropoutOptions(0.0f), 1);
  StatusOr<PretrainedBase> on1 = PretrainOnSamples(d, AllIds(d), DropoutOptions(0.3f), 1);
  StatusOr<PretrainedBase> on2 = PretrainOnSamples(d, AllIds(d), DropoutOptions(0.3f), 1);
  ASSERT_TRUE(off.ok() && on1.ok() && on2.ok());
  EXPECT_EQ(on1->model.params(), on2->model.params());
  EXPECT_NE(on1->model.params(), off->model.params());
  // Fields not named are never dropped: with only an unknown field named, the
  // run equals the run without dropout.
  PretrainOptions other = DropoutOptions(0.3f);
  other.key_dropout_fields = {"no_such_field"};
  StatusOr<PretrainedBase> unnamed = PretrainOnSamples(d, AllIds(d), other, 1);
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ(unnamed->model.params(), off->model.params());
}

// With dropout the base model has seen zero user rows, so its predictions for
// an unknown user still rank the good movies first.
TEST(KeyDropoutTest, UnknownUserStillRanksByMovie) {
  const data::Dataset d = UserMovieDataset(3000, 3);
  StatusOr<PretrainedBase> on = PretrainOnSamples(d, AllIds(d), DropoutOptions(0.3f), 1);
  ASSERT_TRUE(on.ok());
  model::TableLookup rows(&on->table);
  std::vector<float> x(static_cast<size_t>(40) * 8, 0.0f);
  for (int i = 0; i < 40; ++i) {
    const float* row = rows.Find(FeatureKey(1, i));
    ASSERT_NE(row, nullptr);
    for (int j = 0; j < 4; ++j) x[static_cast<size_t>(i) * 8 + 4 + j] = row[j];  // user row zero
  }
  std::vector<float> p(40);
  model::FineTuneStep step;
  step.Predict(on->model, nullptr, x.data(), 40, p.data(), nullptr);
  float worst_good = 1, best_bad = 0;
  for (int i = 0; i < 20; ++i) worst_good = std::min(worst_good, p[i]);
  for (int i = 20; i < 40; ++i) best_bad = std::max(best_bad, p[i]);
  EXPECT_GT(worst_good, best_bad);
}

}  // namespace
}  // namespace iak::worker
