// The schema-driven readers on the real sample files in datasets/samples
// (tests run from the repository root), with the example schemas.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/keys.h"
#include "data/numeric_value.h"
#include "data/schema.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

CompiledSchema Load(const std::string& name) {
  StatusOr<CompiledSchema> schema = LoadSchema("examples/" + name + ".schema.pbtxt");
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

Dataset Read(const CompiledSchema& schema, const std::vector<std::string>& files,
             TextReadReport* report, TextReadOptions options = {}) {
  StatusOr<Dataset> data = ReadTextFiles(schema, files, options, report);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : Dataset();
}

std::vector<uint64_t> Keys(const Dataset& d, size_t sample, int field) {
  size_t n;
  const uint64_t* k = d.FieldKeys(sample, field, &n);
  return std::vector<uint64_t>(k, k + n);
}

TEST(SampleFilesTest, CriteoCsvCountsLabelsDomainsAndKeys) {
  const CompiledSchema schema = Load("criteo");
  TextReadReport report;
  const Dataset d = Read(schema, {"datasets/samples/criteo_sample.txt"}, &report);
  ASSERT_EQ(d.size(), 200u);
  EXPECT_EQ(report.lines_read, 200);
  EXPECT_EQ(report.click_positives, 49);
  EXPECT_FALSE(d.has_conversion());
  ASSERT_EQ(d.num_fields(), 39);
  EXPECT_EQ(d.fields[0].name, "I1");
  EXPECT_EQ(d.fields[13].name, "C1");
  EXPECT_EQ(d.keys.size(), 200u * 39u);
  EXPECT_EQ(d.domain_names, (std::vector<std::string>{"scene-a73e", "scene-other"}));
  EXPECT_EQ(report.domain_counts, (std::vector<int64_t>{178, 22}));
  // Line 2: 0,,3,260.0,,17668.0,...,05db9164,...
  EXPECT_EQ(d.click[0], 0.0f);
  EXPECT_EQ(Keys(d, 0, 0), std::vector<uint64_t>{FeatureKey(0, kMissingNumericBucket)});
  EXPECT_EQ(Keys(d, 0, 1), std::vector<uint64_t>{FeatureKey(1, 1001)});  // ln(3)^2 = 1.21
  EXPECT_EQ(Keys(d, 0, 2), std::vector<uint64_t>{FeatureKey(2, 1030)});  // ln(260)^2 = 30.9
  EXPECT_EQ(Keys(d, 0, 13), std::vector<uint64_t>{FeatureKey(13, HashBytes("05db9164"))});
  // Line 3 has I2 = -1: floor(-1) = -1.
  EXPECT_EQ(Keys(d, 1, 1),
            std::vector<uint64_t>{FeatureKey(1, static_cast<uint64_t>(int64_t{-1}))});
  // No timestamp column: samples are ordered by position.
  EXPECT_EQ(d.timestamp[199], 199);
}

TEST(SampleFilesTest, CriteoOriginalTsvLayoutWithCrlfReadsTheSame) {
  // The original layout: tabs, no header; and CRLF line ends.
  const std::string csv = testing::ReadFile("datasets/samples/criteo_sample.txt");
  std::string tsv;
  bool header = true;
  for (char c : csv) {
    if (header) {
      header = c != '\n';
      continue;
    }
    if (c == ',') tsv += '\t';
    else if (c == '\n') tsv += "\r\n";
    else tsv += c;
  }
  const std::string dir = testing::MakeTempDir();
  const std::string path = testing::WriteFile(dir + "/day_0", tsv);
  TextReadReport csv_report, tsv_report;
  const Dataset a = Read(Load("criteo"), {"datasets/samples/criteo_sample.txt"}, &csv_report);
  const Dataset b = Read(Load("criteo_tsv"), {path}, &tsv_report);
  EXPECT_EQ(b.size(), 200u);
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.click, b.click);
  EXPECT_EQ(a.domain, b.domain);
}

TEST(SampleFilesTest, AvazuCountsLabelsTimestampsAndSceneDomains) {
  TextReadReport report;
  const Dataset d = Read(Load("avazu"), {"datasets/samples/avazu_sample.txt"}, &report);
  ASSERT_EQ(d.size(), 100u);
  EXPECT_EQ(report.click_positives, 20);
  ASSERT_EQ(d.num_fields(), 21);
  EXPECT_EQ(d.fields[20].name, "C21");
  for (int64_t t : d.timestamp) EXPECT_EQ(t, 1413849600);  // 2014-10-21 00:00 UTC
  EXPECT_EQ(d.domain_names, (std::vector<std::string>{"site", "app"}));
  EXPECT_EQ(report.domain_counts, (std::vector<int64_t>{79, 21}));
  EXPECT_EQ(Keys(d, 0, 0), std::vector<uint64_t>{FeatureKey(0, HashBytes("1005"))});
}

TEST(SampleFilesTest, AliExpressTrainAndTestHaveClickAndConversion) {
  const CompiledSchema schema = Load("aliexpress");
  TextReadReport train_report, test_report, both_report;
  const Dataset train =
      Read(schema, {"datasets/samples/aliexpress_train_sample.csv"}, &train_report);
  const Dataset test = Read(schema, {"datasets/samples/aliexpress_test_sample.csv"}, &test_report);
  ASSERT_EQ(train.size(), 100u);
  ASSERT_EQ(test.size(), 20u);
  EXPECT_TRUE(train.has_conversion());
  EXPECT_EQ(train.num_fields(), 16 + 63);
  EXPECT_EQ(train_report.click_positives, 60);
  EXPECT_EQ(train_report.conversion_positives, 2);
  EXPECT_EQ(test_report.click_positives, 10);
  EXPECT_EQ(test_report.conversion_positives, 2);
  EXPECT_EQ(train_report.domain_counts, (std::vector<int64_t>{60, 40}));
  // Line 2: numerical_24 = 0.116248 -> bucket 2 of [0.01, 0.1, 0.2, ...).
  EXPECT_EQ(Keys(train, 0, 16 + 23), std::vector<uint64_t>{FeatureKey(16 + 23, 2)});
  const Dataset both = Read(schema,
                            {"datasets/samples/aliexpress_train_sample.csv",
                             "datasets/samples/aliexpress_test_sample.csv"},
                            &both_report);
  EXPECT_EQ(both.size(), 120u);
  EXPECT_EQ(both_report.conversion_positives, 4);
}

TEST(SampleFilesTest, ThreadsAndBlockSizeDoNotChangeTheResult) {
  const CompiledSchema schema = Load("criteo");
  TextReadReport r1, r2;
  TextReadOptions one;
  one.num_threads = 1;
  TextReadOptions many;
  many.num_threads = 3;
  many.block_bytes = 4096;  // the 52 KB file in 13 blocks of 3 chunks
  const Dataset a = Read(schema, {"datasets/samples/criteo_sample.txt"}, &r1, one);
  const Dataset b = Read(schema, {"datasets/samples/criteo_sample.txt"}, &r2, many);
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.click, b.click);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.timestamp, b.timestamp);
}

TEST(SampleFilesTest, LibsvmAndLibffm) {
  const std::string dir = testing::MakeTempDir();
  const std::string svm = testing::WriteFile(dir + "/a.svm", "1 3:1 10:0.5 7:0\n-1 2:1\n\n+1\n");
  proto::Schema s;
  s.set_format(proto::FORMAT_LIBSVM);
  StatusOr<CompiledSchema> schema = CompileSchema(s);
  ASSERT_TRUE(schema.ok()) << schema.status();
  TextReadReport report;
  const Dataset d = Read(*schema, {svm}, &report);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.click, (std::vector<float>{1, 0, 1}));
  EXPECT_EQ(Keys(d, 0, 0), (std::vector<uint64_t>{FeatureKey(0, 3), FeatureKey(0, 10)}));
  EXPECT_EQ(Keys(d, 1, 0), (std::vector<uint64_t>{FeatureKey(0, 2)}));
  EXPECT_TRUE(Keys(d, 2, 0).empty());

  const std::string ffm =
      testing::WriteFile(dir + "/a.ffm", "0 1:5:1 0:2:1\r\n1 2:9:1 2:4:1\r\n");
  s.set_format(proto::FORMAT_LIBFFM);
  s.set_num_fields(3);
  schema = CompileSchema(s);
  ASSERT_TRUE(schema.ok()) << schema.status();
  const Dataset f = Read(*schema, {ffm}, &report);
  ASSERT_EQ(f.size(), 2u);
  ASSERT_EQ(f.num_fields(), 3);
  EXPECT_EQ(f.click, (std::vector<float>{0, 1}));
  EXPECT_EQ(Keys(f, 0, 0), (std::vector<uint64_t>{FeatureKey(0, 2)}));
  EXPECT_EQ(Keys(f, 0, 1), (std::vector<uint64_t>{FeatureKey(1, 5)}));
  EXPECT_TRUE(Keys(f, 0, 2).empty());
  EXPECT_EQ(Keys(f, 1, 2), (std::vector<uint64_t>{FeatureKey(2, 9), FeatureKey(2, 4)}));
}

}  // namespace
}  // namespace iak::data
