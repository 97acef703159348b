#include "model/iak_module.h"

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::Dot;
using testing::RandomVector;

// `on_columns`: a linear module (no hidden layers) that reads and adapts
// columns 1, 3 and 4 of its 5 inputs only (JobSpec iak.fields).
IakConfig SmallConfig(bool plain, bool on_columns = false) {
  IakConfig c;
  c.input_dim = 5;
  c.latent_dim = 3;
  c.encoder_hidden = {6};
  c.decoder_hidden = {4};
  c.plain_adapter = plain;
  if (on_columns) {
    c.encoder_hidden.clear();
    c.decoder_hidden.clear();
    c.columns = {1, 3, 4};
  }
  return c;
}

// A module with every parameter random (including the decoder's last layer,
// which Init() zeroes and would hide every upstream gradient).
IakModule RandomModule(bool plain, uint64_t seed, bool on_columns = false) {
  IakModule m(SmallConfig(plain, on_columns));
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

// (plain, on_columns)
class IakGradTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(IakGradTest, CompressionGradientsMatchFiniteDifferences) {
  const auto [plain, on_columns] = GetParam();
  IakModule m = RandomModule(plain, 41, on_columns);
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
  const auto [plain, on_columns] = GetParam();
  IakModule m = RandomModule(plain, 44, on_columns);
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

INSTANTIATE_TEST_SUITE_P(PlainAndColumns, IakGradTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

// On columns: the other inputs pass through bit for bit, the read ones move,
// and the parameters are those of a module as wide as the columns.
TEST(IakModuleTest, ColumnsAdaptOnlyTheirInputs) {
  IakModule m = RandomModule(false, 61, /*on_columns=*/true);
  IakConfig narrow = SmallConfig(false);
  narrow.input_dim = 3;
  narrow.encoder_hidden.clear();
  narrow.decoder_hidden.clear();
  EXPECT_EQ(m.num_params(), IakModule(narrow).num_params());
  Problem p = MakeProblem(62);
  std::vector<float> out(p.h.size());
  IakWorkspace ws;
  m.Infer(p.h.data(), p.batch, out.data(), &ws);
  for (int r = 0; r < p.batch; ++r) {
    for (int j = 0; j < 5; ++j) {
      const size_t i = static_cast<size_t>(r) * 5 + j;
      if (j == 1 || j == 3 || j == 4) {
        EXPECT_NE(out[i], p.h[i]) << r << "," << j;
      } else {
        EXPECT_EQ(out[i], p.h[i]) << r << "," << j;
      }
    }
  }
  // The same as the narrow module on the gathered columns, put back.
  IakModule same(narrow);
  std::copy(m.params().begin(), m.params().end(), same.mutable_params());
  std::vector<float> gathered, adapted(static_cast<size_t>(p.batch) * 3);
  for (int r = 0; r < p.batch; ++r) {
    for (int j : {1, 3, 4}) gathered.push_back(p.h[static_cast<size_t>(r) * 5 + j]);
  }
  same.Infer(gathered.data(), p.batch, adapted.data(), &ws);
  for (int r = 0; r < p.batch; ++r) {
    int k = 0;
    for (int j : {1, 3, 4}) {
      EXPECT_EQ(out[static_cast<size_t>(r) * 5 + j], adapted[static_cast<size_t>(r) * 3 + k++]);
    }
  }
}

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

// A module on columns writes format version 2 with its columns; one
// without them writes version 1, as before columns existed.
TEST(IakModuleTest, SerializeKeepsColumns) {
  IakModule m = RandomModule(false, 63, /*on_columns=*/true);
  const std::string blob = m.Serialize();
  EXPECT_EQ(blob[8], 2);
  EXPECT_EQ(RandomModule(false, 63).Serialize()[8], 1);
  StatusOr<IakModule> back = IakModule::Deserialize(blob);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->config().columns, (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(back->params(), m.params());
  for (size_t len = 0; len < blob.size(); ++len) {
    EXPECT_EQ(IakModule::Deserialize(std::string_view(blob).substr(0, len)).status().code(),
              StatusCode::kDataLoss)
        << len;
  }
}

TEST(IakModuleTest, ValidateRejectsBadConfigs) {
  IakConfig c = SmallConfig(false);
  c.latent_dim = 0;
  EXPECT_EQ(ValidateIakConfig(c).code(), StatusCode::kInvalidArgument);
  for (std::vector<int> columns : {std::vector<int>{3, 1}, {1, 1}, {-1}, {5}}) {
    IakConfig bad = SmallConfig(false);
    bad.columns = columns;
    EXPECT_EQ(ValidateIakConfig(bad).code(), StatusCode::kInvalidArgument) << columns[0];
  }
  EXPECT_TRUE(ValidateIakConfig(SmallConfig(true)).ok());
}

}  // namespace
}  // namespace iak::model
