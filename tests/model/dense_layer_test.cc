#include "model/dense_layer.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/matrix_ops.h"
#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::Dot;
using testing::RandomVector;

TEST(MatrixOpsTest, LinearForwardMatchesNaiveLoop) {
  std::mt19937_64 rng(1);
  const int batch = 3, in = 4, out = 5;
  auto x = RandomVector(batch * in, &rng);
  auto w = RandomVector(in * out, &rng);
  auto b = RandomVector(out, &rng);
  std::vector<float> y(batch * out);
  LinearForward(x.data(), w.data(), b.data(), batch, in, out, y.data());
  for (int r = 0; r < batch; ++r) {
    for (int c = 0; c < out; ++c) {
      double want = b[c];
      for (int k = 0; k < in; ++k) want += x[r * in + k] * w[k * out + c];
      EXPECT_NEAR(y[r * out + c], want, 1e-5);
    }
  }
}

TEST(MatrixOpsTest, SigmoidAndLogSigmoidAreStable) {
  EXPECT_FLOAT_EQ(Sigmoid(0.0f), 0.5f);
  EXPECT_FLOAT_EQ(Sigmoid(-1000.0f), 0.0f);
  EXPECT_FLOAT_EQ(Sigmoid(1000.0f), 1.0f);
  EXPECT_NEAR(LogSigmoid(-1000.0f), -1000.0f, 1e-3);
  EXPECT_NEAR(LogSigmoid(1000.0f), 0.0f, 1e-6);
}

TEST(DenseLayerTest, GradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(2);
  const int batch = 3, in = 4, out = 5;
  DenseLayer layer(in, out);
  auto params = RandomVector(layer.num_params(), &rng);
  auto x = RandomVector(batch * in, &rng);
  auto c = RandomVector(batch * out, &rng);  // dL/dy of L = <y, c>
  layer.Bind(params.data());
  std::vector<float> y(batch * out);
  auto loss = [&] {
    layer.Forward(x.data(), batch, y.data());
    return Dot(y.data(), c);
  };

  std::vector<float> dx(batch * in);
  std::vector<float> grads(layer.num_params(), 0.0f);
  float* dw = grads.data();
  float* db = grads.data() + in * out;
  layer.Backward(x.data(), c.data(), batch, dx.data(), dw, db);
  CheckAllGrads(loss, x.data(), dx.data(), x.size(), "dx");
  CheckAllGrads(loss, params.data(), grads.data(), params.size(), "dparams");
}

TEST(DenseLayerTest, BackwardAccumulatesAndSkipsNullOutputs) {
  std::mt19937_64 rng(3);
  const int batch = 2, in = 3, out = 2;
  DenseLayer layer(in, out);
  auto params = RandomVector(layer.num_params(), &rng);
  layer.Bind(params.data());
  auto x = RandomVector(batch * in, &rng);
  auto dy = RandomVector(batch * out, &rng);
  std::vector<float> once(layer.num_params(), 0.0f);
  layer.Backward(x.data(), dy.data(), batch, nullptr, once.data(),
                 once.data() + in * out);
  std::vector<float> twice(layer.num_params(), 0.0f);
  for (int i = 0; i < 2; ++i) {
    layer.Backward(x.data(), dy.data(), batch, nullptr, twice.data(),
                   twice.data() + in * out);
  }
  for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-5);
  // Frozen: only the input gradient.
  std::vector<float> dx(batch * in);
  layer.Backward(x.data(), dy.data(), batch, dx.data(), nullptr, nullptr);
}

TEST(DenseLayerTest, ZeroInitGivesZeroOutput) {
  std::mt19937_64 rng(4);
  std::vector<float> params(DenseLayer::NumParams(3, 2), 7.0f);
  InitDenseParams(3, 2, DenseInit::kZero, &rng, params.data());
  for (float p : params) EXPECT_EQ(p, 0.0f);
}

}  // namespace
}  // namespace iak::model
