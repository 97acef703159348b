#include "model/loss.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::RandomVector;

TEST(TaskLossTest, SingleTaskKnownValue) {
  const float logits[] = {0.0f, 0.0f};
  const float click[] = {1.0f, 0.0f};
  float dlogits[2];
  EXPECT_NEAR(TaskLoss(logits, 2, 1, click, nullptr, dlogits), std::log(2.0), 1e-6);
  EXPECT_NEAR(dlogits[0], -0.25f, 1e-6);  // (0.5 - 1) / 2
  EXPECT_NEAR(dlogits[1], 0.25f, 1e-6);
}

TEST(TaskLossTest, EsmmKnownValue) {
  // pCTR = pCVR = 0.5 -> pCTCVR = 0.25; click = 1, conversion = 1.
  const float logits[] = {0.0f, 0.0f};
  const float click[] = {1.0f};
  const float conversion[] = {1.0f};
  float dlogits[2];
  const float loss = TaskLoss(logits, 1, 2, click, conversion, dlogits);
  EXPECT_NEAR(loss, std::log(2.0) + std::log(4.0), 1e-5);
}

class TaskLossGradTest : public ::testing::TestWithParam<int> {};

TEST_P(TaskLossGradTest, GradientMatchesFiniteDifferences) {
  const int tasks = GetParam();
  const int batch = 6;
  std::mt19937_64 rng(21);
  auto logits = RandomVector(batch * tasks, &rng, 2.0f);
  const std::vector<float> click = {1, 0, 1, 1, 0, 1};
  const std::vector<float> conversion = {1, 0, 0, 1, 1, 0};
  std::vector<float> dlogits(logits.size()), scratch(logits.size());
  auto loss = [&] {
    return static_cast<double>(TaskLoss(logits.data(), batch, tasks, click.data(),
                                        conversion.data(), scratch.data()));
  };
  TaskLoss(logits.data(), batch, tasks, click.data(), conversion.data(), dlogits.data());
  CheckAllGrads(loss, logits.data(), dlogits.data(), logits.size(), "dlogits");
}

INSTANTIATE_TEST_SUITE_P(Tasks, TaskLossGradTest, ::testing::Values(1, 2));

TEST(TaskLossTest, SaturatedLogitsStayFinite) {
  const float logits[] = {80.0f, -80.0f, -80.0f, 80.0f};
  const float click[] = {0.0f, 1.0f};
  const float conversion[] = {1.0f, 1.0f};
  float dlogits[4];
  const float loss = TaskLoss(logits, 2, 2, click, conversion, dlogits);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_GT(loss, 10.0f);
  for (float d : dlogits) EXPECT_TRUE(std::isfinite(d));
}

}  // namespace
}  // namespace iak::model
