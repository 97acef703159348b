#include "model/adam.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace iak::model {
namespace {

TEST(AdamTest, MatchesHandComputedSteps) {
  AdamOptions o;
  o.lr = 0.1f;
  Adam adam(2, o);
  std::vector<float> p = {1.0f, -2.0f};
  // Step 1: m_hat = g, v_hat = g^2 -> each parameter moves by lr * sign(g).
  std::vector<float> g1 = {0.5f, -0.1f};
  adam.Step(p.data(), g1.data());
  EXPECT_NEAR(p[0], 0.9f, 1e-6);
  EXPECT_NEAR(p[1], -1.9f, 1e-6);
  // Step 2 with g = (-0.5, 0.2), by hand for parameter 0:
  //   m = 0.9*0.05 - 0.05 = -0.005, v = 0.999*0.00025 + 0.001*0.25 = 0.00049975
  //   m_hat = -0.005/0.19, v_hat = 0.00049975/0.001999
  std::vector<float> g2 = {-0.5f, 0.2f};
  adam.Step(p.data(), g2.data());
  const double m_hat0 = -0.005 / 0.19;
  const double v_hat0 = 0.00049975 / 0.001999;
  EXPECT_NEAR(p[0], 0.9 - 0.1 * m_hat0 / (std::sqrt(v_hat0) + 1e-8), 1e-5);
  //   m = 0.9*(-0.01) + 0.02 = 0.011, v = 0.999*0.00001 + 0.001*0.04
  const double m_hat1 = 0.011 / 0.19;
  const double v_hat1 = (0.999 * 0.00001 + 0.001 * 0.04) / 0.001999;
  EXPECT_NEAR(p[1], -1.9 - 0.1 * m_hat1 / (std::sqrt(v_hat1) + 1e-8), 1e-5);
  EXPECT_EQ(adam.step(), 2);
}

TEST(AdamTest, RangesFreezeTheRest) {
  Adam adam(4, AdamOptions{});
  std::vector<float> p = {1, 1, 1, 1};
  std::vector<float> g = {1, 1, 1, 1};
  adam.Step(p.data(), g.data(), {ParamRange{1, 3}});
  EXPECT_EQ(p[0], 1.0f);
  EXPECT_LT(p[1], 1.0f);
  EXPECT_LT(p[2], 1.0f);
  EXPECT_EQ(p[3], 1.0f);
}

TEST(AdamTest, SerializedStateContinuesIdentically) {
  AdamOptions o;
  o.lr = 0.05f;
  Adam a(3, o);
  std::vector<float> p = {0.1f, 0.2f, 0.3f};
  std::vector<float> g = {0.3f, -0.2f, 0.1f};
  a.Step(p.data(), g.data());
  Adam b(3, AdamOptions{});
  ASSERT_TRUE(b.Deserialize(a.Serialize()).ok());
  EXPECT_EQ(b.step(), 1);
  EXPECT_FLOAT_EQ(b.options().lr, 0.05f);
  std::vector<float> pa = p, pb = p;
  a.Step(pa.data(), g.data());
  b.Step(pb.data(), g.data());
  EXPECT_EQ(pa, pb);
}

TEST(AdamTest, BadStateIsDataLossAndLeavesStateAlone) {
  Adam a(3, AdamOptions{});
  const std::string blob = a.Serialize();
  Adam wrong_size(4, AdamOptions{});
  EXPECT_EQ(wrong_size.Deserialize(blob).code(), StatusCode::kDataLoss);
  for (size_t len = 0; len < blob.size(); ++len) {
    EXPECT_EQ(a.Deserialize(blob.substr(0, len)).code(), StatusCode::kDataLoss) << len;
  }
  EXPECT_EQ(a.step(), 0);
}

}  // namespace
}  // namespace iak::model
