// The results tables' statistics (compare/statistics.h) against hand-computed
// references and against model::RocAuc on explicitly expanded resamples.
#include "compare/statistics.h"

#include <gtest/gtest.h>

#include <random>

#include "model/metrics.h"

namespace iak::compare {
namespace {

TEST(StatisticsTest, TIntervalMatchesTheHandComputedOne) {
  // 1..5: mean 3, sd sqrt(2.5), half width t(0.975, 4) sd / sqrt(5) = 2.776 * 0.70711.
  StatusOr<Interval> i = MeanWithTInterval({1, 2, 3, 4, 5});
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_DOUBLE_EQ(i->mean, 3.0);
  EXPECT_NEAR(i->low, 3.0 - 1.962928, 1e-5);
  EXPECT_NEAR(i->high, 3.0 + 1.962928, 1e-5);
  EXPECT_EQ(i->n, 5);
  StatusOr<Interval> one = MeanWithTInterval({0.7});
  ASSERT_TRUE(one.ok());
  EXPECT_DOUBLE_EQ(one->low, 0.7);
  EXPECT_DOUBLE_EQ(one->high, 0.7);
  EXPECT_FALSE(MeanWithTInterval({}).ok());
  EXPECT_DOUBLE_EQ(StudentT975(1), 12.706);
  EXPECT_DOUBLE_EQ(StudentT975(4), 2.776);
  EXPECT_DOUBLE_EQ(StudentT975(1000), 1.96);
}

TEST(StatisticsTest, WeightedAucCountsSamplesAndTiesAsByHand) {
  const std::vector<float> scores{0.1f, 0.4f, 0.35f, 0.8f};
  const std::vector<float> labels{0, 0, 1, 1};
  const WeightedAuc auc(scores, labels);
  // Pairs (pos, neg): 0.35 beats 0.1 only; 0.8 beats both: 3 of 4.
  EXPECT_DOUBLE_EQ(*auc.Auc({1, 1, 1, 1}), 0.75);
  // 0.4 twice: 0.35 beats 1 of 3 negatives, 0.8 all 3: 4 of 6.
  EXPECT_DOUBLE_EQ(*auc.Auc({1, 2, 1, 1}), 4.0 / 6.0);
  // A tie between a positive and a negative counts one half.
  const WeightedAuc tied({0.5f, 0.5f, 0.9f}, {0, 1, 1});
  EXPECT_DOUBLE_EQ(*tied.Auc({1, 1, 1}), 0.75);
  EXPECT_FALSE(auc.Auc({1, 1, 0, 0}).ok());  // negatives only
}

TEST(StatisticsTest, WeightedAucEqualsRocAucOnTheExpandedSamples) {
  std::mt19937_64 rng(7);
  std::vector<float> scores(60), labels(60);
  for (size_t i = 0; i < scores.size(); ++i) {
    scores[i] = static_cast<float>(rng() % 10) / 10;  // many ties
    labels[i] = static_cast<float>(rng() % 3 == 0);
  }
  const WeightedAuc auc(scores, labels);
  for (int draw = 0; draw < 5; ++draw) {
    const std::vector<uint32_t> counts = ResampleCounts(scores.size(), &rng);
    uint32_t total = 0;
    std::vector<float> s, l;
    for (size_t i = 0; i < counts.size(); ++i) {
      total += counts[i];
      s.insert(s.end(), counts[i], scores[i]);
      l.insert(l.end(), counts[i], labels[i]);
    }
    EXPECT_EQ(total, scores.size());
    EXPECT_NEAR(*auc.Auc(counts), *model::RocAuc(s, l), 1e-12);
  }
}

TEST(StatisticsTest, PairedGainsAreTheAucDifferencesOnTheSameDraws) {
  const std::vector<float> labels{0, 1, 0, 1, 1, 0, 0, 1};
  const std::vector<float> base{0.2f, 0.3f, 0.6f, 0.5f, 0.9f, 0.1f, 0.4f, 0.35f};
  const std::vector<std::vector<float>> seeds{{0.1f, 0.7f, 0.3f, 0.6f, 0.8f, 0.2f, 0.5f, 0.4f},
                                              {0.3f, 0.2f, 0.1f, 0.9f, 0.7f, 0.4f, 0.5f, 0.6f}};
  StatusOr<std::vector<double>> gains = PairedBootstrapGains(seeds, base, labels, 50, 11);
  ASSERT_TRUE(gains.ok()) << gains.status();
  std::mt19937_64 rng(11);  // the same draws, checked one by one
  size_t used = 0;
  for (int r = 0; r < 50; ++r) {
    const std::vector<uint32_t> counts = ResampleCounts(labels.size(), &rng);
    std::vector<float> l, b, s0, s1;
    for (size_t i = 0; i < counts.size(); ++i) {
      l.insert(l.end(), counts[i], labels[i]);
      b.insert(b.end(), counts[i], base[i]);
      s0.insert(s0.end(), counts[i], seeds[0][i]);
      s1.insert(s1.end(), counts[i], seeds[1][i]);
    }
    StatusOr<double> base_auc = model::RocAuc(b, l);
    if (!base_auc.ok()) continue;
    ASSERT_LT(used, gains->size());
    EXPECT_NEAR((*gains)[used++], (*model::RocAuc(s0, l) + *model::RocAuc(s1, l)) / 2 - *base_auc,
                1e-12);
  }
  EXPECT_EQ(used, gains->size());
}

TEST(StatisticsTest, PairedGainSeesClearWinsLossesAndNoDifference) {
  std::mt19937_64 rng(3);
  std::vector<float> labels(400), noisy(400), perfect(400), reversed(400);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<float>(i % 2);
    noisy[i] = labels[i] * 0.2f + static_cast<float>(rng() % 1000) / 1000;
    perfect[i] = labels[i];
    reversed[i] = 1 - labels[i];
  }
  StatusOr<PairedGain> same = PairedBootstrapAucGain({noisy}, noisy, labels, 200, 1);
  ASSERT_TRUE(same.ok());
  EXPECT_DOUBLE_EQ(same->gain, 0);
  EXPECT_DOUBLE_EQ(same->low, 0);
  EXPECT_DOUBLE_EQ(same->high, 0);
  EXPECT_FALSE(same->below());
  EXPECT_FALSE(same->above());
  StatusOr<PairedGain> win = PairedBootstrapAucGain({perfect}, noisy, labels, 200, 1);
  ASSERT_TRUE(win.ok());
  EXPECT_TRUE(win->above());
  EXPECT_GT(win->gain, 0.2);
  EXPECT_LE(win->low, win->gain);
  EXPECT_GE(win->high, win->gain);
  StatusOr<PairedGain> loss = PairedBootstrapAucGain({reversed}, noisy, labels, 200, 1);
  ASSERT_TRUE(loss.ok());
  EXPECT_TRUE(loss->below());
  EXPECT_EQ(loss->resamples, 200);
}

TEST(StatisticsTest, BadInputIsRefused) {
  EXPECT_FALSE(PairedBootstrapAucGain({}, {0.1f}, {1}, 10, 1).ok());
  EXPECT_FALSE(PairedBootstrapAucGain({{0.1f}}, {0.1f, 0.2f}, {0, 1}, 10, 1).ok());
  EXPECT_FALSE(PairedBootstrapAucGain({{0.1f, 0.2f}}, {0.1f, 0.2f}, {1, 1}, 10, 1).ok());
  EXPECT_FALSE(Quantile({}, 0.5).ok());
  EXPECT_DOUBLE_EQ(*Quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(*Quantile({4, 1, 3, 2}, 0.025), 1.075);
}

}  // namespace
}  // namespace iak::compare
