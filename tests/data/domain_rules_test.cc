// Domain rules over columns (region prefix, scene, time buckets), domain
// columns, and the schema checks that guard them.
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

#include <chrono>
#include <string>

#include "data/schema.h"
#include "data/text_reader.h"
#include "data/utc_time.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

StatusOr<CompiledSchema> Compile(const std::string& text) {
  proto::Schema s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  return CompileSchema(s);
}

constexpr char kColumns[] = R"(
  has_header: false
  columns { name: "click" role: COLUMN_CLICK }
  columns { name: "zip" role: COLUMN_CATEGORICAL }
  columns { name: "page" role: COLUMN_CATEGORICAL }
  columns { name: "ts" role: COLUMN_TIMESTAMP }
)";

TEST(DomainRulesTest, RegionSceneAndTimeRulesFirstMatchWins) {
  StatusOr<CompiledSchema> schema = Compile(std::string(kColumns) + R"(
    domains {
      rules { domain: "search" column: "page" equals: "search" }
      rules { domain: "north" column: "zip" prefix: "1" }
      rules { domain: "north" column: "zip" prefix: "2" }
      rules { domain: "night" hour_of_day { min: 22 max: 6 } }
      rules { domain: "lunch" hour_of_day { min: 11 max: 14 } }
      default_domain: "other"
    })");
  ASSERT_TRUE(schema.ok()) << schema.status();
  const int64_t day = FromUtc(2020, 5, 1, 0);
  auto line = [&](const char* zip, const char* page, int hour) {
    return std::string("1,") + zip + "," + page + "," + std::to_string(day + hour * 3600) + "\n";
  };
  const std::string path = testing::WriteFile(
      testing::MakeTempDir() + "/in.csv",
      line("10115", "search", 12) + line("10115", "home", 12) + line("20095", "home", 3) +
          line("80331", "home", 23) + line("80331", "home", 2) + line("80331", "home", 12) +
          line("80331", "home", 16));
  TextReadReport report;
  StatusOr<Dataset> d = ReadTextFiles(*schema, {path}, TextReadOptions(), &report);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->domain_names,
            (std::vector<std::string>{"search", "north", "night", "lunch", "other"}));
  EXPECT_EQ(d->domain, (std::vector<int32_t>{0, 1, 1, 2, 2, 3, 4}));
  EXPECT_EQ(report.domain_counts, (std::vector<int64_t>{1, 2, 2, 1, 1}));
}

TEST(DomainRulesTest, WithoutDefaultUnmatchedSamplesAreDroppedAndCounted) {
  StatusOr<CompiledSchema> schema = Compile(std::string(kColumns) + R"(
    domains { rules { domain: "y2020" year { min: 2020 max: 2021 } } })");
  ASSERT_TRUE(schema.ok()) << schema.status();
  const std::string path = testing::WriteFile(
      testing::MakeTempDir() + "/in.csv",
      "1,1,a," + std::to_string(FromUtc(2020, 3, 1, 0)) + "\n0,1,a," +
          std::to_string(FromUtc(2019, 3, 1, 0)) + "\n");
  TextReadReport report;
  StatusOr<Dataset> d = ReadTextFiles(*schema, {path}, TextReadOptions(), &report);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 1u);
  EXPECT_EQ(report.no_domain_dropped, 1);
}

TEST(DomainRulesTest, DomainColumnNamesDomainsInOrderOfAppearance) {
  StatusOr<CompiledSchema> schema = Compile(R"(
    columns { name: "click" role: COLUMN_CLICK }
    columns { name: "f" role: COLUMN_MULTI_CATEGORICAL separator: ";" pooling: "mean" }
    columns { name: "scene" role: COLUMN_DOMAIN })");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_TRUE(schema->fields[0].multi_valued);
  EXPECT_EQ(schema->fields[0].pooling, Pooling::kMean);
  const std::string path = testing::WriteFile(testing::MakeTempDir() + "/in.csv",
                                              "1,a;b,feed\n0,,search\n1,c,feed\n");
  TextReadOptions options;
  options.num_threads = 1;
  StatusOr<Dataset> d = ReadTextFiles(*schema, {path}, options, nullptr);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->domain_names, (std::vector<std::string>{"feed", "search"}));
  EXPECT_EQ(d->domain, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(d->offsets, (std::vector<uint64_t>{0, 2, 2, 3}));
}

// Domain names become file names and plan rows: any character but a tab or
// a line break is a name ("us/east" included: its files are escaped, see
// worker/domain_file_name.h); the others fail the read naming the line,
// before any training.
TEST(DomainRulesTest, DomainNamesWithTabsBreaksOrOver80BytesAreRefusedByLine) {
  StatusOr<CompiledSchema> schema = Compile(R"(
    has_header: false
    columns { name: "click" role: COLUMN_CLICK }
    columns { name: "f" role: COLUMN_CATEGORICAL }
    columns { name: "scene" role: COLUMN_DOMAIN })");
  ASSERT_TRUE(schema.ok()) << schema.status();
  TextReadOptions options;
  options.num_threads = 1;
  const std::string dir = testing::MakeTempDir();
  const std::string good = testing::WriteFile(dir + "/good.csv", "1,a,us/east\n0,b,\"q\"\"x\"\n");
  StatusOr<Dataset> d = ReadTextFiles(*schema, {good}, options, nullptr);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->domain_names, (std::vector<std::string>{"us/east", "q\"x"}));

  const std::string tab = testing::WriteFile(dir + "/tab.csv", "1,a,feed\n0,b,\"x\ty\"\n");
  StatusOr<Dataset> bad = ReadTextFiles(*schema, {tab}, options, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tab.csv:2:"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("holds a tab or a line break"), std::string::npos)
      << bad.status();

  const std::string long_name = testing::WriteFile(
      dir + "/long.csv", "1,a," + std::string(81, 'n') + "\n");
  bad = ReadTextFiles(*schema, {long_name}, options, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("longer than 80 bytes"), std::string::npos)
      << bad.status();

  StatusOr<CompiledSchema> rules = Compile(std::string(kColumns) + R"(
    domains { rules { domain: "a\tb" column: "page" equals: "x" } })");
  ASSERT_FALSE(rules.ok());
  EXPECT_NE(rules.status().message().find("domain rule 1"), std::string::npos) << rules.status();
  rules = Compile(std::string(kColumns) + R"(
    domains { rules { domain: "a" column: "page" equals: "x" } default_domain: "" })");
  EXPECT_TRUE(rules.ok()) << rules.status();
}

TEST(DomainRulesTest, SchemaErrorsNameTheColumnOrRule) {
  auto error = [](const std::string& text) {
    StatusOr<CompiledSchema> s = Compile(text);
    return s.ok() ? std::string() : s.status().message();
  };
  EXPECT_NE(error(R"(columns { name: "c" role: COLUMN_CATEGORICAL })").find("no COLUMN_CLICK"),
            std::string::npos);
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK } columns { name: "x" })")
                .find("column 2 ('x'): set `role`"),
            std::string::npos);
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "n" role: COLUMN_NUMERIC })")
                .find("column 2 ('n'): a numeric column needs `transform`"),
            std::string::npos);
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "n" role: COLUMN_NUMERIC transform: NUMERIC_BUCKETIZE
                               boundaries: [1, 1] })")
                .find("strictly increasing"),
            std::string::npos);
  EXPECT_NE(error(std::string(kColumns) +
                  R"(domains { rules { domain: "d" column: "nope" equals: "x" } })")
                .find("domain rule 1 (domain 'd'): column 'nope' is not a column"),
            std::string::npos);
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "c" role: COLUMN_CATEGORICAL }
                     domains { rules { domain: "d" hour_of_day { min: 1 max: 2 } } })")
                .find("needs a COLUMN_TIMESTAMP"),
            std::string::npos);
}

// Sizes and values were trusted: `repeat: 2000000000` or LIBFFM
// `num_fields: 2000000000` allocated gigabytes before failing, `repeat: -3`
// and `separator: ""` were accepted.
TEST(DomainRulesTest, SchemaSizesAndValuesAreCheckedBeforeExpansion) {
  auto error = [](const std::string& text) {
    StatusOr<CompiledSchema> s = Compile(text);
    return s.ok() ? std::string("ok") : s.status().message();
  };
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "I" repeat: 2000000000 role: COLUMN_CATEGORICAL })")
                .find("columns entry 2 ('I'): the schema would have more than 65536 columns"),
            std::string::npos);
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "I" repeat: -3 role: COLUMN_CATEGORICAL })")
                .find("columns entry 2 ('I'): `repeat` is -3"),
            std::string::npos);
  EXPECT_NE(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "f" role: COLUMN_MULTI_CATEGORICAL separator: "" })")
                .find("columns entry 2 ('f'): `separator` is \"\""),
            std::string::npos);
  EXPECT_NE(error(R"(format: FORMAT_LIBFFM num_fields: 2000000000)").find("num_fields in 1..65536"),
            std::string::npos);
  EXPECT_EQ(error(R"(columns { name: "y" role: COLUMN_CLICK }
                     columns { name: "I" repeat: 13 role: COLUMN_CATEGORICAL }
                     columns { name: "f" role: COLUMN_MULTI_CATEGORICAL })"),
            "ok");
  EXPECT_EQ(error(R"(format: FORMAT_LIBFFM num_fields: 65536)"), "ok");
}

// Merging each chunk's domains into the file's list scanned every name seen
// so far: 300k distinct domains took 79 s. Now a hash lookup per name: 200k
// domains over many blocks and chunks read in well under a second (the bound
// leaves a wide margin for a loaded machine; the quadratic merge took ~35 s).
TEST(DomainRulesTest, ManyDistinctDomainsMergeInLinearTime) {
  StatusOr<CompiledSchema> schema = Compile(R"(
    columns { name: "click" role: COLUMN_CLICK }
    columns { name: "f" role: COLUMN_CATEGORICAL }
    columns { name: "scene" role: COLUMN_DOMAIN })");
  ASSERT_TRUE(schema.ok()) << schema.status();
  constexpr int kDomains = 200000;
  std::string text;
  for (int pass = 0; pass < 2; ++pass) {
    for (int d = 0; d < kDomains; ++d) {
      text += (d % 2 ? "1,a,d" : "0,b,d") + std::to_string(d) + "\n";
    }
  }
  const std::string path = testing::WriteFile(testing::MakeTempDir() + "/many.csv", text);
  TextReadOptions options;
  options.num_threads = 3;
  options.block_bytes = 1 << 16;
  const auto start = std::chrono::steady_clock::now();
  StatusOr<Dataset> d = ReadTextFiles(*schema, {path, path}, options, nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->domain_names.size(), static_cast<size_t>(kDomains));
  ASSERT_EQ(d->size(), static_cast<size_t>(4 * kDomains));
  for (int i : {0, 1, 777, kDomains - 1}) {
    EXPECT_EQ(d->domain_names[static_cast<size_t>(i)], "d" + std::to_string(i));
  }
  for (size_t s = 0; s < d->size(); s += 9973) {
    EXPECT_EQ(d->domain[s], static_cast<int32_t>(s % kDomains)) << s;
  }
  EXPECT_LT(seconds, 10.0);
}

}  // namespace
}  // namespace iak::data
