#include "model/iak_module.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::Dot;
using testing::RandomVector;

IakConfig SmallConfig(bool plain) {
  IakConfig c;
  c.input_dim = 5;
  c.latent_dim = 3;
  c.encoder_hidden = {6};
  c.decoder_hidden = {4};
  c.plain_adapter = plain;
  return c;
}

// A module with every parameter random (including the decoder's last layer,
// which Init() zeroes and would hide every upstream gradient).
IakModule RandomModule(bool plain, uint64_t seed) {
  IakModule m(SmallConfig(plain));
  std::mt19937_64 rng(seed);
  const auto values = RandomVector(m.num_params(), &rng, 0.5f);
  std::copy(values.begin(), values.end(), m.mutable_params());
  return m;
}

struct Problem {
  int batch = 4;
  std::vector<float> h;
  std::vector<float> c;  // L = <h_out, c> + beta * KL
  float beta = 0.7f;
};

Problem MakeProblem(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Problem p;
  p.h = RandomVector(p.batch * 5, &rng);
  p.c = RandomVector(p.batch * 5, &rng);
  return p;
}

class IakGradTest : public ::testing::TestWithParam<bool> {};

TEST_P(IakGradTest, CompressionGradientsMatchFiniteDifferences) {
  const bool plain = GetParam();
  IakModule m = RandomModule(plain, 41);
  Problem p = MakeProblem(42);
  std::vector<float> h_out(p.h.size());
  // Reseeding per evaluation keeps eps fixed across the finite differences.
  auto loss = [&] {
    std::mt19937_64 rng(43);
    const float kl = m.Forward(p.h.data(), p.batch, /*training=*/true, &rng, h_out.data());
    return Dot(h_out.data(), p.c) + p.beta * kl;
  };
  loss();
  m.ZeroGrads();
  std::vector<float> dh_in(p.h.size());
  m.Backward(p.c.data(), p.beta, IakPhase::kCompression, dh_in.data());
  const std::vector<float> analytic = m.grads();
  CheckAllGrads(loss, p.h.data(), dh_in.data(), p.h.size(), "dh_in");
  CheckAllGrads(loss, m.mutable_params(), analytic.data(), analytic.size(),
                "dparams");
}

TEST_P(IakGradTest, MatchingLeavesEncoderGradientsZero) {
  const bool plain = GetParam();
  IakModule m = RandomModule(plain, 44);
  Problem p = MakeProblem(45);
  std::vector<float> h_out(p.h.size());
  auto run = [&](IakPhase phase, std::vector<float>* dh_in) {
    std::mt19937_64 rng(46);
    m.Forward(p.h.data(), p.batch, true, &rng, h_out.data());
    m.ZeroGrads();
    m.Backward(p.c.data(), p.beta, phase, dh_in == nullptr ? nullptr : dh_in->data());
    return m.grads();
  };
  std::vector<float> dh_compression(p.h.size()), dh_matching(p.h.size());
  const auto g_compression = run(IakPhase::kCompression, &dh_compression);
  const auto g_matching = run(IakPhase::kMatching, &dh_matching);
  const ParamRange enc = m.encoder_param_range();
  const ParamRange dec = m.decoder_param_range();
  EXPECT_EQ(enc.end, dec.begin);
  EXPECT_EQ(dec.end, m.num_params());
  bool any_encoder_grad = false;
  for (size_t i = enc.begin; i < enc.end; ++i) {
    EXPECT_EQ(g_matching[i], 0.0f) << i;
    any_encoder_grad |= g_compression[i] != 0.0f;
  }
  EXPECT_TRUE(any_encoder_grad);
  for (size_t i = dec.begin; i < dec.end; ++i) {
    EXPECT_EQ(g_matching[i], g_compression[i]) << i;
  }
  // The input gradient does not depend on which parameters are trained.
  EXPECT_EQ(dh_matching, dh_compression);
  const auto g_no_input = run(IakPhase::kMatching, nullptr);
  EXPECT_EQ(g_no_input, g_matching);
}

INSTANTIATE_TEST_SUITE_P(Plain, IakGradTest, ::testing::Bool());

TEST(IakModuleTest, UntrainedModuleIsTheIdentity) {
  IakModule m(SmallConfig(false));
  m.Init(47);
  Problem p = MakeProblem(48);
  std::vector<float> h_out(p.h.size());
  std::mt19937_64 rng(49);
  m.Forward(p.h.data(), p.batch, /*training=*/true, &rng, h_out.data());
  EXPECT_EQ(h_out, p.h);
  IakWorkspace ws;
  m.Infer(p.h.data(), p.batch, h_out.data(), &ws);
  EXPECT_EQ(h_out, p.h);
  // Encoder initialised, decoder's last layer exactly zero.
  bool encoder_nonzero = false;
  for (size_t i = m.encoder_param_range().begin; i < m.encoder_param_range().end; ++i) {
    encoder_nonzero |= m.params()[i] != 0.0f;
  }
  EXPECT_TRUE(encoder_nonzero);
}

// Init sets the logvar outputs' bias to config.initial_logvar (the mu half
// keeps a zero bias); the module is still the identity.
TEST(IakModuleTest, InitStartsLogvarAtTheConfiguredValue) {
  for (float initial : {0.0f, -6.0f}) {
    IakConfig config = SmallConfig(false);
    config.initial_logvar = initial;
    IakModule m(config);
    m.Init(47);
    const int k = config.latent_dim;
    const int in = config.encoder_hidden.back();
    // The encoder's last layer is its last (W, b) block: W is in x 2k.
    const float* bias = m.params().data() + m.encoder_param_range().end - 2 * k;
    ASSERT_EQ(m.encoder_param_range().end - m.encoder_param_range().begin,
              static_cast<size_t>(5 * 6 + 6 + in * 2 * k + 2 * k));
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(bias[j], 0.0f) << "mu " << j;
      EXPECT_EQ(bias[k + j], initial) << "logvar " << j;
    }
    Problem p = MakeProblem(48);
    std::vector<float> h_out(p.h.size());
    std::mt19937_64 rng(49);
    m.Forward(p.h.data(), p.batch, /*training=*/true, &rng, h_out.data());
    EXPECT_EQ(h_out, p.h);
  }
  IakConfig bad = SmallConfig(false);
  bad.initial_logvar = -30.0f;
  EXPECT_EQ(ValidateIakConfig(bad).code(), StatusCode::kInvalidArgument);
}

TEST(IakModuleTest, InferenceUsesTheMean) {
  IakModule m = RandomModule(false, 50);
  Problem p = MakeProblem(51);
  std::vector<float> a(p.h.size()), b(p.h.size()), c(p.h.size());
  std::mt19937_64 rng1(1), rng2(2);
  m.Forward(p.h.data(), p.batch, /*training=*/false, &rng1, a.data());
  m.Forward(p.h.data(), p.batch, /*training=*/false, &rng2, b.data());
  EXPECT_EQ(a, b);
  IakWorkspace ws;
  m.Infer(p.h.data(), p.batch, c.data(), &ws);
  EXPECT_EQ(a, c);
  m.Forward(p.h.data(), p.batch, /*training=*/true, &rng1, b.data());
  EXPECT_NE(a, b);
}

TEST(IakModuleTest, KlIsZeroForStandardNormalPosterior) {
  // Encoder all zero -> mu = 0, logvar = 0 -> KL = 0.
  IakModule m(SmallConfig(false));
  Problem p = MakeProblem(52);
  std::vector<float> h_out(p.h.size());
  std::mt19937_64 rng(3);
  EXPECT_FLOAT_EQ(m.Forward(p.h.data(), p.batch, true, &rng, h_out.data()), 0.0f);
}

TEST(IakModuleTest, SerializeRoundTripAndTruncation) {
  IakModule m = RandomModule(true, 53);
  const std::string blob = m.Serialize();
  StatusOr<IakModule> back = IakModule::Deserialize(blob);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->params(), m.params());
  EXPECT_TRUE(back->config().plain_adapter);
  EXPECT_EQ(back->config().encoder_hidden, m.config().encoder_hidden);
  for (size_t len = 0; len < blob.size(); ++len) {
    StatusOr<IakModule> cut = IakModule::Deserialize(std::string_view(blob).substr(0, len));
    ASSERT_FALSE(cut.ok()) << len;
    EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss) << len;
  }
  // The deserialized module computes with its own parameters.
  Problem p = MakeProblem(54);
  std::vector<float> a(p.h.size()), b(p.h.size());
  IakWorkspace ws;
  m.Infer(p.h.data(), p.batch, a.data(), &ws);
  back->Infer(p.h.data(), p.batch, b.data(), &ws);
  EXPECT_EQ(a, b);
}

TEST(IakModuleTest, ValidateRejectsBadConfigs) {
  IakConfig c = SmallConfig(false);
  c.latent_dim = 0;
  EXPECT_EQ(ValidateIakConfig(c).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateIakConfig(SmallConfig(true)).ok());
}

}  // namespace
}  // namespace iak::model
