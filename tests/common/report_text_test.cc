#include "common/report_text.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace iak {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(ReportTextTest, FixedRoundsToTheDigits) {
  EXPECT_EQ(FormatFixed(0.664712, 4), "0.6647");
  EXPECT_EQ(FormatFixed(-1.25, 1), "-1.2");  // round half to even, as printf
  EXPECT_EQ(FormatFixed(3, 0), "3");
}

TEST(ReportTextTest, ShortKeepsSixSignificantDigitsAndNamesNaN) {
  EXPECT_EQ(FormatShort(0.123456789, "null"), "0.123457");
  EXPECT_EQ(FormatShort(15000000, "null"), "1.5e+07");
  EXPECT_EQ(FormatShort(kNaN, "null"), "null");
  EXPECT_EQ(FormatShort(kNaN, "NaN"), "NaN");
}

TEST(ReportTextTest, JsonNumberIsNullForNaN) {
  EXPECT_EQ(JsonNumber(0.5, 6), "0.500000");
  EXPECT_EQ(JsonNumber(kNaN, 6), "null");
}

TEST(ReportTextTest, JsonQuoteEscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonQuote("2004-2007"), "\"2004-2007\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("line\nnext\t"), "\"line\\u000anext\\u0009\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

TEST(ReportTextTest, CsvFieldQuotesOnlyWhereItMust) {
  EXPECT_EQ(CsvField("us/east"), "us/east");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("q\"x"), "\"q\"\"x\"");
}

TEST(ReportTextTest, MarkdownAndGnuplotTextKeepTheirSyntax) {
  EXPECT_EQ(MarkdownCell("a|b\nc"), "a\\|bc");
  EXPECT_EQ(GnuplotQuoted("it's"), "'it''s'");
  EXPECT_EQ(GnuplotDataLabel("q\"x"), "\"q'x\"");
}

TEST(ReportTextTest, JsonIntList) {
  EXPECT_EQ(JsonIntList({}), "[]");
  EXPECT_EQ(JsonIntList({64, 32}), "[64,32]");
}

}  // namespace
}  // namespace iak
