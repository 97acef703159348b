#include "common/status.h"

#include <gtest/gtest.h>

#include "common/keys.h"

namespace iak {
namespace {

StatusOr<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgumentError("expected a positive number, got " + std::to_string(x));
  return x;
}

Status Twice(int x, int* out) {
  IAK_ASSIGN_OR_RETURN(int v, ParsePositive(x));
  *out = 2 * v;
  return Status::Ok();
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = DataLossError("shard_0: truncated");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.ToString(), "DATA_LOSS: shard_0: truncated");
  EXPECT_EQ(s.WithContext("ps 1").message(), "ps 1: shard_0: truncated");
}

TEST(StatusTest, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(Twice(4, &out).ok());
  EXPECT_EQ(out, 8);
  Status s = Twice(-1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out, 8);
}

TEST(KeysTest, FieldsDoNotCollideAndShardsBalance) {
  EXPECT_NE(FeatureKey(0, 7), FeatureKey(1, 7));
  int counts[4] = {0, 0, 0, 0};
  for (uint64_t v = 0; v < 40000; ++v) ++counts[ShardOfKey(FeatureKey(2, v), 4)];
  for (int c : counts) {
    EXPECT_GT(c, 9500);
    EXPECT_LT(c, 10500);
  }
}

}  // namespace
}  // namespace iak
