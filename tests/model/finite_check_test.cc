// CheckFinite: the run-time guard against divergence (NaN/Inf parameters).
#include "model/finite_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace iak::model {
namespace {

TEST(FiniteCheckTest, FiniteValuesPassAndNonFiniteOnesAreNamed) {
  std::vector<float> v(100, 0.5f);
  EXPECT_TRUE(CheckFinite(v.data(), v.size(), "adapter of domain d").ok());
  EXPECT_TRUE(CheckFinite(nullptr, 0, "empty").ok());
  EXPECT_TRUE(CheckFinite(1e30, "loss").ok());
  v[17] = std::numeric_limits<float>::quiet_NaN();
  v[40] = std::numeric_limits<float>::infinity();
  Status s = CheckFinite(v.data(), v.size(), "adapter of domain 2012-2016");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("adapter of domain 2012-2016"), std::string::npos) << s;
  EXPECT_NE(s.message().find("value 17 of 100 is nan (2 non-finite)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("learning rate"), std::string::npos) << s;
  v[17] = 0;
  EXPECT_NE(CheckFinite(v.data(), v.size(), "x").message().find("value 40 of 100 is infinite"),
            std::string::npos);
  EXPECT_FALSE(CheckFinite(std::nan(""), "loss at step 3").ok());
  EXPECT_FALSE(CheckFinite(-HUGE_VAL, "loss").ok());
}

}  // namespace
}  // namespace iak::model
