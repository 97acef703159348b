// The seed summary (compare/seed_report.h) on hand-made reports: intervals
// over seeds, the paired gain against the base, the marks, and mismatches.
#include "compare/seed_report.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compare/method_comparison.h"

namespace iak::compare {
namespace {

MethodDomainResult Result(const std::string& method, const std::string& domain, double auc,
                          std::vector<float> scores, std::vector<float> labels) {
  MethodDomainResult r;
  r.method = method;
  r.domain = domain;
  r.test_auc = auc;
  r.test_ctcvr_auc = std::nan("");
  r.test_samples = static_cast<int64_t>(labels.size());
  r.test_scores = std::move(scores);
  r.test_labels = std::move(labels);
  r.trainable_params = 10;
  return r;
}

// Domain "a": 200 samples, the base scores at random, "good" ranks perfectly
// and "bad" in reverse. Domain "b": every model scores at random.
MethodReport MakeRun(double bad_auc) {
  std::vector<float> labels(200), noise(200), perfect(200), reversed(200);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<float>(i % 2);
    noise[i] = static_cast<float>((i * 7919) % 101) / 101;
    perfect[i] = labels[i];
    reversed[i] = 1 - labels[i];
  }
  MethodReport report;
  report.results = {Result("frozen", "a", 0.5, noise, labels),
                    Result("frozen", "b", 0.5, noise, labels),
                    Result("good", "a", 1.0, perfect, labels),
                    Result("good", "b", 0.5, noise, labels),
                    Result("bad", "a", bad_auc, reversed, labels),
                    Result("bad", "b", 0.5, noise, labels)};
  return report;
}

TEST(SeedReportTest, IntervalsGainsAndMarks) {
  ConfidenceOptions options;
  options.resamples = 200;
  StatusOr<SeedReport> report = SummarizeSeeds({MakeRun(0.0), MakeRun(0.1)}, {1, 2}, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->domains, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(report->methods.size(), 3u);
  // bad on a: 0.0 and 0.1 -> mean 0.05, half width 12.706 * 0.0707107 / sqrt(2).
  const DomainConfidence* bad_a = report->Cell("bad", "a");
  ASSERT_NE(bad_a, nullptr);
  EXPECT_NEAR(bad_a->test_auc.mean, 0.05, 1e-12);
  EXPECT_NEAR(bad_a->test_auc.high - 0.05, 12.706 * 0.05, 1e-9);
  // Per-seed means over domains: 0.25 and 0.30.
  EXPECT_NEAR(report->methods[2].mean_test_auc.mean, 0.275, 1e-12);
  EXPECT_TRUE(bad_a->has_gain);
  EXPECT_TRUE(bad_a->gain.below());
  EXPECT_TRUE(report->Cell("good", "a")->gain.above());
  EXPECT_FALSE(report->Cell("good", "b")->gain.above());
  EXPECT_FALSE(report->Cell("good", "b")->gain.below());
  EXPECT_FALSE(report->Cell("frozen", "a")->has_gain);  // the base against itself
  EXPECT_EQ(report->methods[1].domains_above, 1);
  EXPECT_EQ(report->methods[2].domains_below, 1);
  EXPECT_EQ(report->methods[1].trainable_params, 20);
  const std::string md = report->ToMarkdown();
  EXPECT_NE(md.find("**below**"), std::string::npos);
  EXPECT_NE(md.find("| bad | 0.2750 ["), std::string::npos) << md;
  const std::string json = report->ToJson();
  EXPECT_NE(json.find("\"below\": true"), std::string::npos);
  EXPECT_NE(json.find("\"seeds\": [1, 2]"), std::string::npos);
}

TEST(SeedReportTest, RunsThatDifferAreRefused) {
  MethodReport other = MakeRun(0.1);
  other.results.pop_back();
  EXPECT_FALSE(SummarizeSeeds({MakeRun(0.0), other}, {1, 2}, {}).ok());
  EXPECT_FALSE(SummarizeSeeds({MakeRun(0.0)}, {1, 2}, {}).ok());
  EXPECT_FALSE(SummarizeSeeds({}, {}, {}).ok());
}

TEST(SeedReportTest, MethodVariantsParse) {
  StatusOr<MethodVariant> v = ParseMethodVariant("iak-l32=iak:iak { latent_dim: 32 }");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->name, "iak-l32");
  EXPECT_EQ(v->method, Method::kIak);
  EXPECT_EQ(v->spec_override, "iak { latent_dim: 32 }");
  StatusOr<MethodVariant> plain = ParseMethodVariant("again=plain");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->method, Method::kPlain);
  EXPECT_TRUE(plain->spec_override.empty());
  EXPECT_FALSE(ParseMethodVariant("no-method").ok());
  EXPECT_FALSE(ParseMethodVariant("x=nonsense").ok());
  EXPECT_FALSE(ParseMethodVariant("x=iak:iak { no_such_field: 1 }").ok());
}

}  // namespace
}  // namespace iak::compare
