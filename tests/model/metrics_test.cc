#include "model/metrics.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace iak::model {
namespace {

TEST(RocAucTest, HandComputedCases) {
  // Pairs (pos, neg): (0.35,0.1) yes, (0.35,0.4) no, (0.8,*) yes -> 3/4.
  EXPECT_DOUBLE_EQ(*RocAuc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(*RocAuc({0.1f, 0.2f, 0.3f, 0.4f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(*RocAuc({0.4f, 0.3f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
}

TEST(RocAucTest, TiesCountOneHalf) {
  EXPECT_DOUBLE_EQ(*RocAuc({0.5f, 0.5f, 0.5f, 0.5f}, {0, 1, 0, 1}), 0.5);
  // pos {0.5, 0.9}, neg {0.5, 0.1}: (0.5,0.5) = 1/2, (0.5,0.1) = 1,
  // (0.9,*) = 2 -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(*RocAuc({0.5f, 0.9f, 0.5f, 0.1f}, {1, 1, 0, 0}), 0.875);
}

TEST(RocAucTest, SingleClassIsFailedPrecondition) {
  EXPECT_EQ(RocAuc({0.1f, 0.2f}, {1, 1}).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(RocAuc({0.1f, 0.2f}, {0, 0}).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(RocAuc(std::vector<float>{}, std::vector<float>{}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(LogLossTest, KnownValuesAndClamping) {
  const float probs[] = {0.5f, 0.5f};
  const float labels[] = {1.0f, 0.0f};
  EXPECT_NEAR(LogLoss(probs, labels, 2), std::log(2.0), 1e-12);
  const float p2[] = {0.9f, 0.2f};
  EXPECT_NEAR(LogLoss(p2, labels, 2),
              -(std::log(0.9) + std::log(0.8)) / 2.0, 1e-6);
  const float sure_wrong[] = {0.0f};
  const float one[] = {1.0f};
  EXPECT_NEAR(LogLoss(sure_wrong, one, 1), -std::log(1e-7), 1e-6);
  EXPECT_EQ(LogLoss(probs, labels, 0), 0.0);
}

}  // namespace
}  // namespace iak::model
