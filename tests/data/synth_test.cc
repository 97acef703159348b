#include "data/synth.h"

#include <cmath>

#include <gtest/gtest.h>

#include "data/schema.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

SynthOptions Options(const std::string& dir, const std::string& name) {
  SynthOptions o;
  o.out = dir + "/" + name;
  o.samples = 40000;
  o.keys = 2000;
  o.domains = 4;
  o.seed = 42;
  return o;
}

TEST(SynthTest, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::string dir = testing::MakeTempDir();
  StatusOr<SynthReport> a = WriteSynthData(Options(dir, "a.csv"));
  StatusOr<SynthReport> b = WriteSynthData(Options(dir, "b.csv"));
  SynthOptions other = Options(dir, "c.csv");
  other.seed = 43;
  StatusOr<SynthReport> c = WriteSynthData(other);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status().ToString();
  const std::string bytes = testing::ReadFile(dir + "/a.csv");
  EXPECT_EQ(bytes, testing::ReadFile(dir + "/b.csv"));
  EXPECT_NE(bytes, testing::ReadFile(dir + "/c.csv"));
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), a->bytes);
}

TEST(SynthTest, TheSchemaReadsItWithTheDesignedCountsAndShifts) {
  const std::string dir = testing::MakeTempDir();
  SynthOptions o = Options(dir, "s.csv");
  StatusOr<SynthReport> report = WriteSynthData(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  StatusOr<CompiledSchema> schema = LoadSchema("examples/synth.schema.pbtxt");
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  TextReadReport read_report;
  StatusOr<Dataset> ds = ReadTextFiles(*schema, {o.out}, TextReadOptions{}, &read_report);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->size(), 40000u);
  ASSERT_TRUE(ds->has_conversion());
  ASSERT_EQ(ds->domain_names, (std::vector<std::string>{"d00", "d01", "d02", "d03"}));
  EXPECT_EQ(ds->num_fields(), 3);  // user, item, category

  // Counts from the file agree with the writer's report.
  std::vector<int64_t> n(4), clicks(4), conversions(4);
  for (size_t s = 0; s < ds->size(); ++s) {
    ++n[ds->domain[s]];
    clicks[ds->domain[s]] += ds->click[s] > 0.5f;
    conversions[ds->domain[s]] += ds->conversion[s] > 0.5f;
    EXPECT_TRUE(ds->conversion[s] == 0.0f || ds->click[s] == 1.0f) << "sample " << s;
  }
  for (int d = 0; d < 4; ++d) {
    EXPECT_EQ(n[d], report->domains[d].samples);
    EXPECT_EQ(clicks[d], report->domains[d].clicks);
    EXPECT_EQ(conversions[d], report->domains[d].conversions);
  }
  // Domain sizes fall as 1/(d+1): 48%, 24%, 16%, 12%.
  EXPECT_NEAR(n[0] / 40000.0, 0.48, 0.02);
  EXPECT_NEAR(n[3] / 40000.0, 0.12, 0.02);
  // Click rates rise with the domain index as designed (logit bias -2.5 .. -1.0),
  // conversion-given-click rates fall.
  std::vector<double> ctr(4), cvr(4);
  for (int d = 0; d < 4; ++d) {
    ctr[d] = static_cast<double>(clicks[d]) / n[d];
    cvr[d] = static_cast<double>(conversions[d]) / clicks[d];
  }
  for (int d = 0; d + 1 < 4; ++d) {
    EXPECT_LT(ctr[d] + 0.02, ctr[d + 1]) << "domain " << d;
    EXPECT_GT(cvr[d], cvr[d + 1]) << "domain " << d;
  }
}

TEST(SynthTest, RefusesBadOptionsWithTheFlagToFix) {
  SynthOptions o;
  EXPECT_NE(WriteSynthData(o).status().message().find("--out"), std::string::npos);
  o.out = "/nonexistent-dir/x.csv";
  o.domains = 0;
  EXPECT_NE(WriteSynthData(o).status().message().find("--domains"), std::string::npos);
  o.domains = 2;
  EXPECT_EQ(WriteSynthData(o).status().code(), StatusCode::kIoError);
  o.keys = 1;
  EXPECT_NE(WriteSynthData(o).status().message().find("--keys"), std::string::npos);
  o.keys = 100;
  for (double shift : {std::nan(""), -1.0, 1e9}) {
    o.shift_scale = shift;
    EXPECT_NE(WriteSynthData(o).status().message().find("--shift_scale"), std::string::npos)
        << shift;
  }
}

}  // namespace
}  // namespace iak::data
