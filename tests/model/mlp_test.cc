#include "model/mlp.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::Dot;
using testing::RandomVector;

class MlpGradTest : public ::testing::TestWithParam<Activation> {};

TEST_P(MlpGradTest, GradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(11);
  const int batch = 4;
  Mlp mlp({5, 7, 6, 3}, GetParam());
  std::vector<float> params(mlp.num_params());
  mlp.Init(&rng, /*zero_last=*/false, params.data());
  // Non-zero biases so that ReLU outputs are not all at a kink.
  for (float& p : params) p += 0.05f;
  mlp.Bind(params.data());
  auto x = RandomVector(batch * 5, &rng);
  auto c = RandomVector(batch * 3, &rng);
  MlpWorkspace ws;
  std::vector<float> y(batch * 3);
  auto loss = [&] {
    mlp.Forward(x.data(), batch, y.data(), &ws);
    return Dot(y.data(), c);
  };
  loss();
  std::vector<float> dx(x.size());
  std::vector<float> grads(params.size(), 0.0f);
  mlp.Backward(c.data(), batch, dx.data(), grads.data(), &ws);
  CheckAllGrads(loss, x.data(), dx.data(), x.size(), "dx");
  CheckAllGrads(loss, params.data(), grads.data(), params.size(), "dparams");

  // Frozen parameters: same input gradient, no parameter gradient needed.
  loss();
  std::vector<float> dx_frozen(x.size());
  mlp.Backward(c.data(), batch, dx_frozen.data(), nullptr, &ws);
  EXPECT_EQ(dx, dx_frozen);
}

INSTANTIATE_TEST_SUITE_P(LastActivation, MlpGradTest,
                         ::testing::Values(Activation::kNone, Activation::kRelu));

TEST(MlpTest, WorkspaceIsReusedAcrossBatchSizes) {
  std::mt19937_64 rng(12);
  Mlp mlp({3, 4, 2}, Activation::kNone);
  std::vector<float> params(mlp.num_params());
  mlp.Init(&rng, false, params.data());
  mlp.Bind(params.data());
  MlpWorkspace ws;
  auto big = RandomVector(8 * 3, &rng);
  std::vector<float> y_big(8 * 2), y_small(2 * 2);
  mlp.Forward(big.data(), 8, y_big.data(), &ws);
  const float* buffer = ws.outputs[0].data();
  mlp.Forward(big.data(), 2, y_small.data(), &ws);
  EXPECT_EQ(buffer, ws.outputs[0].data()) << "a smaller batch must not reallocate";
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y_small[i], y_big[i]);
}

TEST(MlpTest, ZeroLastLayerOutputsZero) {
  std::mt19937_64 rng(13);
  Mlp mlp({3, 4, 2}, Activation::kNone);
  std::vector<float> params(mlp.num_params());
  mlp.Init(&rng, /*zero_last=*/true, params.data());
  mlp.Bind(params.data());
  MlpWorkspace ws;
  auto x = RandomVector(2 * 3, &rng);
  std::vector<float> y(2 * 2, 1.0f);
  mlp.Forward(x.data(), 2, y.data(), &ws);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace iak::model
