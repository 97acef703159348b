#include "model/fine_tune_step.h"

#include <algorithm>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/adam.h"
#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::ExpectGradNear;
using testing::NumericGrad;
using testing::RandomVector;

BaseModelConfig BaseConfig(int tasks) {
  BaseModelConfig c;
  c.embedding_dim = 4;
  c.num_fields = 2;
  c.bottom_hidden = {8, 6};
  c.tower_hidden = {5};
  c.num_tasks = tasks;
  return c;
}

IakConfig AdapterConfig() {
  IakConfig c;
  c.input_dim = 6;
  c.latent_dim = 3;
  c.encoder_hidden = {8};
  c.decoder_hidden = {8};
  return c;
}

struct Batch {
  int size = 16;
  std::vector<float> x, click, conversion;
};

// Labels follow a rule the frozen base does not know.
Batch MakeBatch(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Batch b;
  b.x = RandomVector(b.size * 8, &rng);
  for (int r = 0; r < b.size; ++r) {
    b.click.push_back(b.x[r * 8] > 0.0f ? 1.0f : 0.0f);
    b.conversion.push_back(b.x[r * 8 + 1] > 0.0f ? 1.0f : 0.0f);
  }
  return b;
}

TEST(FineTuneStepTest, UntrainedAdapterPredictsLikeTheBase) {
  BaseModel base(BaseConfig(2));
  base.Init(71);
  IakModule iak(AdapterConfig());
  iak.Init(72);
  Batch b = MakeBatch(73);
  FineTuneStep step;
  std::vector<float> ctr_base(b.size), ctcvr_base(b.size), ctr(b.size), ctcvr(b.size);
  step.Predict(base, nullptr, b.x.data(), b.size, ctr_base.data(), ctcvr_base.data());
  step.Predict(base, &iak, b.x.data(), b.size, ctr.data(), ctcvr.data());
  EXPECT_EQ(ctr, ctr_base);
  EXPECT_EQ(ctcvr, ctcvr_base);
  for (int r = 0; r < b.size; ++r) EXPECT_LE(ctcvr[r], ctr[r]);
}

TEST(FineTuneStepTest, GradientsOfTheWholeStepMatchFiniteDifferences) {
  BaseModel base(BaseConfig(2));
  base.Init(74);
  IakModule iak(AdapterConfig());
  std::mt19937_64 init(75);
  const auto values = RandomVector(iak.num_params(), &init, 0.3f);
  std::copy(values.begin(), values.end(), iak.mutable_params());
  Batch b = MakeBatch(76);
  FineTuneStep step;
  const float beta = 0.3f;
  auto loss = [&] {
    std::mt19937_64 rng(77);
    return static_cast<double>(step.Run(base, &iak, IakPhase::kCompression, beta,
                                        b.x.data(), b.size, b.click.data(),
                                        b.conversion.data(), &rng)
                                   .loss);
  };
  loss();
  const std::vector<float> analytic = iak.grads();
  // Every 3rd parameter keeps the test fast.
  for (size_t i = 0; i < analytic.size(); i += 3) {
    ExpectGradNear(analytic[i], NumericGrad(loss, iak.mutable_params(), i),
                   "iak param " + std::to_string(i));
  }
  const std::vector<float> base_params = base.params();
  EXPECT_EQ(base.params(), base_params);
  for (float g : base.grads()) EXPECT_EQ(g, 0.0f) << "the base model is frozen";
}

TEST(FineTuneStepTest, TrainingLowersTheLossAndMatchingFreezesTheEncoder) {
  BaseModel base(BaseConfig(1));
  base.Init(78);
  IakModule iak(AdapterConfig());
  iak.Init(79);
  Batch b = MakeBatch(80);
  FineTuneStep step;
  AdamOptions o;
  o.lr = 0.01f;
  Adam adam(iak.num_params(), o);
  std::mt19937_64 rng(81);
  const float beta = 0.01f;
  StepStats first = step.Run(base, &iak, IakPhase::kCompression, beta, b.x.data(),
                             b.size, b.click.data(), nullptr, &rng);
  EXPECT_NEAR(first.loss, first.task_loss + beta * first.kl, 1e-6);
  adam.Step(iak.mutable_params(), iak.grads().data());
  StepStats last = first;
  for (int i = 0; i < 150; ++i) {
    last = step.Run(base, &iak, IakPhase::kCompression, beta, b.x.data(), b.size,
                    b.click.data(), nullptr, &rng);
    adam.Step(iak.mutable_params(), iak.grads().data());
  }
  EXPECT_LT(last.task_loss, 0.7f * first.task_loss);

  const ParamRange enc = iak.encoder_param_range();
  const std::vector<float> encoder_before(iak.params().begin() + enc.begin,
                                          iak.params().begin() + enc.end);
  for (int i = 0; i < 5; ++i) {
    step.Run(base, &iak, IakPhase::kMatching, beta, b.x.data(), b.size,
             b.click.data(), nullptr, &rng);
    for (size_t j = enc.begin; j < enc.end; ++j) ASSERT_EQ(iak.grads()[j], 0.0f);
    adam.Step(iak.mutable_params(), iak.grads().data(),
              {iak.decoder_param_range()});
  }
  EXPECT_EQ(std::vector<float>(iak.params().begin() + enc.begin,
                               iak.params().begin() + enc.end),
            encoder_before);
}

}  // namespace
}  // namespace iak::model
