// Methods compared seed by seed (compare/paired_seeds.h) on hand-made runs:
// the per-seed differences' mean and t-interval, identical seeds, the
// significance mark, undefined AUCs, the summary line and the refusals.
#include "compare/paired_seeds.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compare/seed_report.h"

namespace iak::compare {
namespace {

MethodDomainResult Result(const std::string& method, const std::string& domain, double auc) {
  MethodDomainResult r;
  r.method = method;
  r.domain = domain;
  r.test_auc = auc;
  r.test_ctcvr_auc = std::nan("");
  return r;
}

// One seed's run: "base" and "variant" on domains "a" and "b".
MethodReport SeedRun(double base_a, double variant_a, double base_b, double variant_b) {
  MethodReport run;
  run.results = {Result("base", "a", base_a), Result("base", "b", base_b),
                 Result("variant", "a", variant_a), Result("variant", "b", variant_b)};
  return run;
}

TEST(PairedSeedsTest, MeanIntervalAndIdenticalSeedsPerDomain) {
  // a: differences 0.02, 0.025, 0.03 -> mean 0.025, sd 0.005, half width
  // t(0.975, 2) * 0.005 / sqrt(3) = 0.0124, so the interval lies above zero.
  // b: identical seeds.
  const std::vector<MethodReport> runs = {SeedRun(0.70, 0.72, 0.6, 0.6),
                                          SeedRun(0.72, 0.745, 0.6, 0.6),
                                          SeedRun(0.68, 0.71, 0.6, 0.6)};
  StatusOr<std::vector<PairedSeedChange>> changes = PairSeeds(runs, {"variant", "base"});
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 2u);
  const PairedSeedChange& a = (*changes)[0];
  EXPECT_EQ(a.domain, "a");
  EXPECT_EQ(a.change.n, 3);
  EXPECT_NEAR(a.change.mean, 0.025, 1e-12);
  EXPECT_NEAR(a.change.high - a.change.mean, 4.303 * 0.005 / std::sqrt(3.0), 1e-4);
  EXPECT_EQ(a.identical, 0);
  EXPECT_TRUE(a.significant());
  const PairedSeedChange& b = (*changes)[1];
  EXPECT_EQ(b.identical, 3);
  EXPECT_EQ(b.change.mean, 0.0);
  EXPECT_FALSE(b.significant()) << "no change at all is not a significant one";
  // The other way round: the same change, negated.
  StatusOr<std::vector<PairedSeedChange>> back = PairSeeds(runs, {"base", "variant"});
  ASSERT_TRUE(back.ok());
  EXPECT_NEAR((*back)[0].change.mean, -0.025, 1e-12);
  EXPECT_TRUE((*back)[0].significant());
}

TEST(PairedSeedsTest, SeedsWithAnUndefinedAucAreLeftOut) {
  const double undefined = std::nan("");
  StatusOr<std::vector<PairedSeedChange>> changes = PairSeeds(
      {SeedRun(0.7, 0.8, 0.6, 0.6), SeedRun(0.7, undefined, 0.6, 0.6), SeedRun(0.7, 0.7, 0.6, 0.6)},
      {"variant", "base"});
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_EQ((*changes)[0].change.n, 2);
  EXPECT_NEAR((*changes)[0].change.mean, 0.05, 1e-12);
  EXPECT_EQ((*changes)[0].identical, 1);
  EXPECT_FALSE((*changes)[0].significant()) << "0.1 and 0: the interval spans zero";
}

TEST(PairedSeedsTest, PairsParseAndUnknownNamesAreRefused) {
  StatusOr<std::vector<MethodPair>> pairs = ParseMethodPairs("iak-bf16:iak,lora:dense");
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  EXPECT_EQ(*pairs, (std::vector<MethodPair>{{"iak-bf16", "iak"}, {"lora", "dense"}}));
  EXPECT_TRUE(ParseMethodPairs("")->empty());
  for (const char* bad : {"iak", ":iak", "iak:", "a:b:c"}) {
    StatusOr<std::vector<MethodPair>> refused = ParseMethodPairs(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find(bad), std::string::npos) << refused.status();
  }
  StatusOr<std::vector<PairedSeedChange>> unknown =
      PairSeeds({SeedRun(0.7, 0.7, 0.6, 0.6)}, {"variant", "lora"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'lora'"), std::string::npos) << unknown.status();
}

TEST(PairedSeedsTest, TheSeedReportCarriesThePairsInMarkdownAndJson) {
  ConfidenceOptions options;
  options.base_method = "base";
  options.resamples = 10;
  options.paired = {{"variant", "base"}};
  StatusOr<SeedReport> report = SummarizeSeeds(
      {SeedRun(0.70, 0.72, 0.6, 0.6), SeedRun(0.72, 0.745, 0.6, 0.6),
       SeedRun(0.68, 0.71, 0.6, 0.6)},
      {1, 2, 3}, options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->paired.size(), 2u);
  const std::string md = report->ToMarkdown();
  EXPECT_NE(md.find("## Paired by seed: variant against base"), std::string::npos) << md;
  EXPECT_NE(md.find("| a | 3 | +0.0250 ["), std::string::npos) << md;
  EXPECT_NE(md.find("Within 0.001: 1 / 2 domains; significant: a."), std::string::npos) << md;
  const std::string json = report->ToJson();
  EXPECT_NE(json.find("\"paired\": [\n  {\"method\": \"variant\", \"against\": \"base\", "
                      "\"domain\": \"a\", \"mean\": 0.025000"),
            std::string::npos)
      << json;
  options.paired = {{"variant", "lora"}};
  EXPECT_FALSE(SummarizeSeeds({SeedRun(0.7, 0.7, 0.6, 0.6)}, {1}, options).ok());
}

}  // namespace
}  // namespace iak::compare
