#include "data/split.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace iak::data {
namespace {

using ::testing::ElementsAre;

// `n` samples spread over `domains` domains with shuffled, repeating
// timestamps (ties exercise the (timestamp, id) order).
Dataset MakeDataset(size_t n, int domains, uint32_t seed) {
  Dataset d;
  for (int i = 0; i < domains; ++i) d.domain_names.push_back("d" + std::to_string(i));
  std::mt19937 rng(seed);
  for (size_t s = 0; s < n; ++s) {
    d.click.push_back(static_cast<float>(rng() % 2));
    d.domain.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(domains)));
    d.timestamp.push_back(static_cast<int64_t>(rng() % 50));
  }
  return d;
}

SampleIds Sorted(SampleIds ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(SplitByTimeTest, PartitionsEachDomainInTimeOrder) {
  const Dataset data = MakeDataset(1000, 3, 7);
  const std::vector<DomainSplit> splits = SplitByTime(data, 0.8, 0.1);
  ASSERT_EQ(splits.size(), 3u);
  for (int d = 0; d < 3; ++d) {
    const DomainSplit& s = splits[d];
    SampleIds all;
    for (const SampleIds* part : {&s.train, &s.validation, &s.test}) {
      all.insert(all.end(), part->begin(), part->end());
    }
    // Exactly the domain's samples, each once, in (timestamp, id) order.
    SampleIds expected;
    for (uint32_t i = 0; i < data.size(); ++i) {
      if (data.domain[i] == d) expected.push_back(i);
    }
    EXPECT_EQ(Sorted(all), expected);
    for (size_t i = 1; i < all.size(); ++i) {
      const auto key = [&](uint32_t id) { return std::make_pair(data.timestamp[id], id); };
      EXPECT_LT(key(all[i - 1]), key(all[i]));
    }
    const size_t n = expected.size();
    EXPECT_EQ(s.train.size(), n * 8 / 10);
    EXPECT_EQ(s.validation.size(), n / 10);
    // Every train timestamp <= every test timestamp.
    int64_t max_train = INT64_MIN, min_test = INT64_MAX;
    for (uint32_t id : s.train) max_train = std::max(max_train, data.timestamp[id]);
    for (uint32_t id : s.test) min_test = std::min(min_test, data.timestamp[id]);
    EXPECT_LE(max_train, min_test);
  }
}

TEST(SplitByTimeTest, ExactCutsAndEmptyDomain) {
  Dataset data;
  data.domain_names = {"a", "b"};
  for (int i = 0; i < 10; ++i) {
    data.click.push_back(0);
    data.domain.push_back(0);
    data.timestamp.push_back(100 - i);  // later ids are earlier in time
  }
  const std::vector<DomainSplit> splits = SplitByTime(data, 0.7, 0.2);
  EXPECT_THAT(splits[0].train, ElementsAre(9, 8, 7, 6, 5, 4, 3));
  EXPECT_THAT(splits[0].validation, ElementsAre(2, 1));
  EXPECT_THAT(splits[0].test, ElementsAre(0));
  EXPECT_TRUE(splits[1].train.empty());
  EXPECT_TRUE(splits[1].test.empty());
}

TEST(SplitByTimeTest, ValidateFractions) {
  EXPECT_TRUE(ValidateSplitFractions(0.8, 0.1).ok());
  EXPECT_TRUE(ValidateSplitFractions(1.0, 0.0).ok());
  EXPECT_FALSE(ValidateSplitFractions(0.9, 0.2).ok());
  EXPECT_FALSE(ValidateSplitFractions(-0.1, 0.1).ok());
  EXPECT_FALSE(ValidateSplitFractions(0.0 / 0.0, 0.1).ok());
}

TEST(ConcatSplitPartsTest, ConcatenatesInGivenOrder) {
  std::vector<DomainSplit> splits(3);
  splits[0].train = {1, 2};
  splits[1].train = {3};
  splits[2].train = {4, 5};
  splits[2].test = {9};
  EXPECT_THAT(ConcatSplitParts(splits, {0, 1}), ElementsAre(1, 2, 3));
  EXPECT_THAT(ConcatSplitParts(splits, {2, 0}), ElementsAre(4, 5, 1, 2));
  EXPECT_THAT(ConcatSplitParts(splits, {2}, SplitPart::kTest), ElementsAre(9));
  EXPECT_TRUE(ConcatSplitParts(splits, {}).empty());
}

TEST(SplitOffRandomShareTest, MovesAboutTheShareFromEveryDomainTheSameWayEachTime) {
  Dataset d = MakeDataset(20000, 3, 5);
  const std::vector<int32_t> before = d.domain;
  Dataset again = d;
  const int pretrain = SplitOffRandomShare(&d, 0.3, "pretrain");
  EXPECT_EQ(pretrain, 3);
  EXPECT_THAT(d.domain_names, ElementsAre("d0", "d1", "d2", "pretrain"));
  // Each domain gives up about 30 % of its samples (binomial sd < 0.6 %).
  for (int domain = 0; domain < 3; ++domain) {
    int total = 0, moved = 0;
    for (size_t s = 0; s < d.size(); ++s) {
      if (before[s] != domain) continue;
      ++total;
      moved += d.domain[s] == pretrain;
      EXPECT_TRUE(d.domain[s] == domain || d.domain[s] == pretrain);
    }
    EXPECT_NEAR(static_cast<double>(moved) / total, 0.3, 0.03) << "domain " << domain;
  }
  SplitOffRandomShare(&again, 0.3, "pretrain");
  EXPECT_EQ(again.domain, d.domain);  // a function of the sample index alone
  Dataset none = MakeDataset(100, 2, 5);
  const std::vector<int32_t> kept = none.domain;
  SplitOffRandomShare(&none, 0.0, "pretrain");
  EXPECT_EQ(none.domain, kept);
}

TEST(ShardIdsTest, ShardsPartitionAndAreStrided) {
  SampleIds ids(103);
  for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = 1000 + i * 3;
  for (int world : {1, 2, 4, 7}) {
    SampleIds all;
    for (int rank = 0; rank < world; ++rank) {
      const SampleIds shard = ShardIds(ids, rank, world);
      EXPECT_LE(shard.size(), ids.size() / world + 1);
      EXPECT_GE(shard.size(), ids.size() / world);
      EXPECT_EQ(shard, ShardIds(ids, rank, world));  // deterministic
      all.insert(all.end(), shard.begin(), shard.end());
    }
    EXPECT_EQ(Sorted(all), ids) << world;
  }
  EXPECT_THAT(ShardIds({10, 11, 12, 13, 14}, 1, 2), ElementsAre(11, 13));
}

}  // namespace
}  // namespace iak::data
