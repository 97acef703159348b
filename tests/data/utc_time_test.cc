#include "data/utc_time.h"

#include <gtest/gtest.h>

namespace iak::data {
namespace {

TEST(ToUtcTest, Epoch) {
  const UtcFields t = ToUtc(0);
  EXPECT_EQ(t.year, 1970);
  EXPECT_EQ(t.month, 1);
  EXPECT_EQ(t.day, 1);
  EXPECT_EQ(t.weekday, 4);  // Thursday
  EXPECT_EQ(t.hour, 0);
}

TEST(ToUtcTest, KnownDates) {
  // 2000-02-29 13:45:00 UTC, a Tuesday (leap day of a /400 year).
  UtcFields t = ToUtc(951831900);
  EXPECT_EQ(t.year, 2000);
  EXPECT_EQ(t.month, 2);
  EXPECT_EQ(t.day, 29);
  EXPECT_EQ(t.weekday, 2);
  EXPECT_EQ(t.hour, 13);
  // 2018-09-24 14:27:30 UTC, a Monday: the last rating of ml-latest-small.
  t = ToUtc(1537799250);
  EXPECT_EQ(t.year, 2018);
  EXPECT_EQ(t.month, 9);
  EXPECT_EQ(t.day, 24);
  EXPECT_EQ(t.weekday, 1);
  EXPECT_EQ(t.hour, 14);
  // 2015-12-31 23:59:59 UTC and one second later.
  EXPECT_EQ(ToUtc(1451606399).year, 2015);
  EXPECT_EQ(ToUtc(1451606399).hour, 23);
  EXPECT_EQ(ToUtc(1451606400).year, 2016);
  EXPECT_EQ(ToUtc(1451606400).hour, 0);
}

TEST(ToUtcTest, BeforeEpoch) {
  // 1969-12-31 23:00:00 UTC, a Wednesday.
  const UtcFields t = ToUtc(-3600);
  EXPECT_EQ(t.year, 1969);
  EXPECT_EQ(t.month, 12);
  EXPECT_EQ(t.day, 31);
  EXPECT_EQ(t.weekday, 3);
  EXPECT_EQ(t.hour, 23);
}

}  // namespace
}  // namespace iak::data
