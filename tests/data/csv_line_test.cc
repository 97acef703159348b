#include "data/csv_line.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace iak::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SplitCsvLineTest, PlainFields) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine("1,31,2.5,1260759144", &f).ok());
  EXPECT_THAT(f, ElementsAre("1", "31", "2.5", "1260759144"));
}

TEST(SplitCsvLineTest, StripsTrailingCr) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine("a,b\r", &f).ok());
  EXPECT_THAT(f, ElementsAre("a", "b"));
}

TEST(SplitCsvLineTest, QuotedCommaAndEscapedQuote) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine("11,\"American President, The (1995)\",Comedy|Drama|Romance\r", &f)
                  .ok());
  EXPECT_THAT(f, ElementsAre("11", "American President, The (1995)", "Comedy|Drama|Romance"));
  ASSERT_TRUE(SplitCsvLine("7789,\"11'09\"\"01 - September 11 (2002)\",Drama", &f).ok());
  EXPECT_THAT(f, ElementsAre("7789", "11'09\"01 - September 11 (2002)", "Drama"));
}

TEST(SplitCsvLineTest, EmptyFields) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine(",,", &f).ok());
  EXPECT_THAT(f, ElementsAre("", "", ""));
  ASSERT_TRUE(SplitCsvLine("", &f).ok());
  EXPECT_THAT(f, ElementsAre(""));
  ASSERT_TRUE(SplitCsvLine("\"\",x", &f).ok());
  EXPECT_THAT(f, ElementsAre("", "x"));
}

TEST(SplitCsvLineTest, QuoteInsideUnquotedFieldIsLiteral) {
  std::vector<std::string> f;
  ASSERT_TRUE(SplitCsvLine("a\"b,c", &f).ok());
  EXPECT_THAT(f, ElementsAre("a\"b", "c"));
}

TEST(SplitCsvLineTest, UnterminatedQuoteIsAnError) {
  std::vector<std::string> f;
  const Status s = SplitCsvLine("1,\"Heat (1995),Action\r", &f);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("column 2"));
  EXPECT_THAT(s.message(), HasSubstr("unterminated"));
}

TEST(SplitCsvLineTest, TextAfterClosingQuoteIsAnError) {
  std::vector<std::string> f;
  const Status s = SplitCsvLine("1,\"Heat\" (1995),Action", &f);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("column 2"));
}

}  // namespace
}  // namespace iak::data
