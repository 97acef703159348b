// Every kind of malformed input is reported with file, line and column, and
// the skip policy counts and quotes them.
#include <gtest/gtest.h>

#include <string>

#include "common/keys.h"
#include "data/numeric_value.h"
#include "data/schema.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

// click, a count, a category, a time: "click,n,cat,ts".
CompiledSchema SmallSchema() {
  proto::Schema s;
  s.set_has_header(true);
  auto add = [&](const char* name, proto::ColumnRole role) {
    proto::ColumnSpec* c = s.add_columns();
    c->set_name(name);
    c->set_role(role);
    return c;
  };
  add("click", proto::COLUMN_CLICK);
  add("n", proto::COLUMN_NUMERIC)->set_transform(proto::NUMERIC_LOG);
  add("cat", proto::COLUMN_CATEGORICAL);
  add("ts", proto::COLUMN_TIMESTAMP);
  StatusOr<CompiledSchema> schema = CompileSchema(s);
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

constexpr char kHeader[] = "click,n,cat,ts\n";

// Reads `body` (after the header) with the fail policy and returns the error.
Status FailOn(const std::string& body) {
  const std::string path = testing::WriteFile(testing::MakeTempDir() + "/in.csv", kHeader + body);
  StatusOr<Dataset> data = ReadTextFiles(SmallSchema(), {path}, TextReadOptions(), nullptr);
  return data.ok() ? Status::Ok() : data.status();
}

void ExpectError(const std::string& body, const std::string& where, const std::string& what) {
  const Status status = FailOn(body);
  ASSERT_FALSE(status.ok()) << body;
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("in.csv:" + where), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(what), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("skip_bad_lines"), std::string::npos) << status.message();
}

TEST(BadLinesTest, GoodFileReads) { EXPECT_TRUE(FailOn("1,3,a,100\n0,,b,101\n").ok()); }

TEST(BadLinesTest, WrongColumnCount) {
  ExpectError("1,3,a,100\n1,3,a\n", "3: expected 4 columns, found 3", "");
}

TEST(BadLinesTest, NonNumericNumber) {
  ExpectError("1,3,a,100\n1,3,a,100\n1,x3,a,100\n", "4: column 2 ('n')",
              "expected a number (or an empty cell for missing), found 'x3'");
}

TEST(BadLinesTest, BadLabel) {
  ExpectError("2,3,a,100\n", "2: column 1 ('click')", "expected a 0/1 label, found '2'");
}

TEST(BadLinesTest, BadTimestamp) {
  ExpectError("1,3,a,10:00\n", "2: column 4 ('ts')", "found '10:00'");
}

TEST(BadLinesTest, BadEscape) {
  ExpectError("1,3,\"a,100\n", "2: bad quoting: column 3", "unterminated double quote");
  ExpectError("1,3,\"a\"b,100\n", "2: bad quoting: column 3", "after the closing quote");
}

TEST(BadLinesTest, BadEncoding) {
  ExpectError("1,3,caf\xC3\xA9,100\n1,3,caf\xE9,100\n", "3: column 3", "invalid UTF-8 at byte 8");
  ExpectError(std::string("1,3,a\0b,100\n", 12), "2: column 3", "a NUL byte");
}

TEST(BadLinesTest, QuotedFieldsAndCrlfAreFine) {
  EXPECT_TRUE(FailOn("1,3,\"a,b\",100\r\n0,,\"x\"\"y\",101\r\n").ok());
}

TEST(BadLinesTest, HeaderMustMatchTheSchema) {
  const std::string path =
      testing::WriteFile(testing::MakeTempDir() + "/in.csv", "click,n,category,ts\n1,3,a,100\n");
  StatusOr<Dataset> data = ReadTextFiles(SmallSchema(), {path}, TextReadOptions(), nullptr);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find(
                "in.csv:1: header column 3 is 'category', the schema's is 'cat'"),
            std::string::npos)
      << data.status();
}

// A huge number under the log transform: floor(-3.6e72) does not fit an
// int64 (the conversion was undefined); it is clamped like the integer
// transform's, and the line reads.
TEST(BadLinesTest, HugeNumbersGetClampedBuckets) {
  EXPECT_TRUE(FailOn("1,-3" + std::string(80, '5') + ",a,100\n0,1e300,b,101\n").ok());
  EXPECT_EQ(NumericBucket(proto::NUMERIC_LOG, {}, -3.5e72),
            static_cast<uint64_t>(static_cast<int64_t>(-9.0e18)));
  EXPECT_EQ(NumericBucket(proto::NUMERIC_INTEGER, {}, -3.5e72),
            NumericBucket(proto::NUMERIC_LOG, {}, -3.5e72));
  EXPECT_EQ(NumericBucket(proto::NUMERIC_LOG, {}, -2.5), static_cast<uint64_t>(int64_t{-3}));
}

TEST(BadLinesTest, MissingFileIsNotFound) {
  StatusOr<Dataset> data =
      ReadTextFiles(SmallSchema(), {"/nonexistent/x.csv"}, TextReadOptions(), nullptr);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kNotFound);
}

TEST(BadLinesTest, SkipPolicyCountsAndQuotesTheFirstExamples) {
  const std::string body =
      "1,3,a,100\n"
      "1,3\n"            // line 3
      "1,zz,a,100\n"     // line 4
      "0,,b,101\n"
      "\n"               // blank: ignored, still numbered
      "7,3,a,100\n"      // line 7
      "1,3,\"a,100\n"    // line 8
      "0,1,c,102\n";
  const std::string path = testing::WriteFile(testing::MakeTempDir() + "/in.csv", kHeader + body);
  TextReadOptions options;
  options.bad_lines = BadLinePolicy::kSkip;
  options.max_error_examples = 3;
  options.block_bytes = 4096;
  for (int threads : {1, 2, 4}) {
    options.num_threads = threads;
    TextReadReport report;
    StatusOr<Dataset> data = ReadTextFiles(SmallSchema(), {path}, options, &report);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->size(), 3u);
    EXPECT_EQ(data->timestamp, (std::vector<int64_t>{100, 101, 102}));
    EXPECT_EQ(report.lines_read, 7);
    EXPECT_EQ(report.bad_lines_skipped, 4);
    ASSERT_EQ(report.bad_line_examples.size(), 3u);
    EXPECT_NE(report.bad_line_examples[0].find("in.csv:3: expected 4 columns"), std::string::npos)
        << report.bad_line_examples[0];
    EXPECT_NE(report.bad_line_examples[1].find("in.csv:4: column 2 ('n')"), std::string::npos);
    EXPECT_NE(report.bad_line_examples[2].find("in.csv:7: column 1 ('click')"),
              std::string::npos);
    EXPECT_NE(report.ToString().find("4 bad lines skipped"), std::string::npos);
  }
}

// A file without line breaks (a gzip given as CSV) was held whole in memory
// on its way to one bad line; a line past max_line_bytes now fails the read
// naming the file and line, under either policy, and normal long lines pass.
TEST(BadLinesTest, ALineWithoutEndFailsAtTheBoundInsteadOfFillingMemory) {
  const std::string dir = testing::MakeTempDir();
  const std::string endless = testing::WriteFile(
      dir + "/endless.csv", std::string(kHeader) + "1,3,a,100\n" + std::string(70000, 'x'));
  TextReadOptions options;
  options.block_bytes = 4096;
  options.max_line_bytes = 50000;
  for (BadLinePolicy policy : {BadLinePolicy::kFail, BadLinePolicy::kSkip}) {
    options.bad_lines = policy;
    StatusOr<Dataset> data = ReadTextFiles(SmallSchema(), {endless}, options, nullptr);
    ASSERT_FALSE(data.ok());
    EXPECT_EQ(data.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(data.status().message().find("endless.csv: line 3 runs past"), std::string::npos)
        << data.status();
  }
  // A long line under the bound is just a (bad) line.
  const std::string long_line =
      testing::WriteFile(dir + "/long.csv", std::string(kHeader) + "1,3,a,100\n" +
                                                std::string(20000, 'x') + "\n0,,b,101\n");
  options.bad_lines = BadLinePolicy::kSkip;
  TextReadReport report;
  StatusOr<Dataset> data = ReadTextFiles(SmallSchema(), {long_line}, options, &report);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 2u);
  EXPECT_EQ(report.bad_lines_skipped, 1);
}

// A parser's up-front reserve is a guess of a line per 64 bytes; with many
// fields it was that times the field count (65,536 columns: 1,024 offsets a
// byte of text, tens of GiB for a 16 MiB block). Now no reserve is more
// elements than the chunk has bytes, and ordinary schemas keep the guess.
TEST(BadLinesTest, ReservesNeverExceedWhatTheChunkCanHold) {
  for (size_t bytes : {size_t{0}, size_t{100}, size_t{8} << 20}) {
    for (size_t fields : {size_t{1}, size_t{39}, size_t{65536}, ~size_t{0}}) {
      const ChunkReserve r = ReserveForChunk(bytes, fields);
      EXPECT_EQ(r.samples, bytes / 64 + 1);
      EXPECT_LE(r.offsets, bytes + 1) << bytes << " " << fields;
      EXPECT_LE(r.keys, bytes) << bytes << " " << fields;
    }
  }
  const ChunkReserve criteo = ReserveForChunk(size_t{8} << 20, 39);
  EXPECT_EQ(criteo.offsets, ((size_t{8} << 20) / 64 + 1) * 39 + 1);
  EXPECT_EQ(criteo.keys, ((size_t{8} << 20) / 64 + 1) * 39);
}

// A LIBFFM sample keeps an offset per field, used or not: with num_fields =
// 65,536 a two-byte line is 512 KiB parsed. A small file parses; a block
// whose samples pass max_block_parsed_bytes fails naming the file, the block
// and what to change, for any number of threads.
TEST(BadLinesTest, LibffmWithManyFieldsParsesWithinTheBlockBudget) {
  proto::Schema s;
  s.set_format(proto::FORMAT_LIBFFM);
  s.set_num_fields(65536);
  StatusOr<CompiledSchema> schema = CompileSchema(s);
  ASSERT_TRUE(schema.ok()) << schema.status();
  const std::string dir = testing::MakeTempDir();
  const std::string small = testing::WriteFile(dir + "/small.ffm", "1 65535:3:1 7:2:1\n0\n");
  StatusOr<Dataset> d = ReadTextFiles(*schema, {small}, TextReadOptions(), nullptr);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ(d->offsets.size(), 2u * 65536 + 1);
  EXPECT_EQ(d->keys, (std::vector<uint64_t>{FeatureKey(7, 2), FeatureKey(65535, 3)}));
  EXPECT_EQ(ParsedBytes(*d), (2 + 2 * 65536 + 1) * 8 + 2 * (4 + 4 + 8));

  std::string lines = "1 3:1:1\n";
  for (int i = 0; i < 99; ++i) lines += "0\n";
  const std::string many = testing::WriteFile(dir + "/many.ffm", lines);
  TextReadOptions options;
  options.max_block_parsed_bytes = size_t{8} << 20;  // 16 samples
  for (int threads : {1, 3}) {
    options.num_threads = threads;
    StatusOr<Dataset> over = ReadTextFiles(*schema, {many}, options, nullptr);
    ASSERT_FALSE(over.ok()) << threads;
    EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(over.status().message().find(
                  "many.ffm: the samples parsed from the block of lines starting at line 1 "
                  "take more than 8 MiB"),
              std::string::npos)
        << over.status();
    EXPECT_NE(over.status().message().find("set the schema's num_fields"), std::string::npos);
  }
  options.max_block_parsed_bytes = size_t{64} << 20;  // 100 samples fit
  StatusOr<Dataset> fits = ReadTextFiles(*schema, {many}, options, nullptr);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->size(), 100u);
}

TEST(BadLinesTest, LibsvmBadTokens) {
  proto::Schema s;
  s.set_format(proto::FORMAT_LIBSVM);
  StatusOr<CompiledSchema> schema = CompileSchema(s);
  ASSERT_TRUE(schema.ok());
  const std::string dir = testing::MakeTempDir();
  auto error = [&](const std::string& body) {
    const std::string path = testing::WriteFile(dir + "/a.svm", body);
    StatusOr<Dataset> d = ReadTextFiles(*schema, {path}, TextReadOptions(), nullptr);
    return d.ok() ? std::string() : d.status().message();
  };
  EXPECT_NE(error("1 3:1\n1 3-1\n").find("a.svm:2: column 2 ('feature'): expected index:value"),
            std::string::npos);
  EXPECT_NE(error("1 3:x\n").find("a.svm:1: column 2"), std::string::npos);
  EXPECT_NE(error("yes 3:1\n").find("a.svm:1: column 1 ('label')"), std::string::npos);
}

}  // namespace
}  // namespace iak::data
