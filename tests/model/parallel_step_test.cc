#include "model/parallel_step.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/fine_tune_step.h"
#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::RandomVector;

BaseModelConfig Base(std::vector<int> tower_hidden = {6}) {
  BaseModelConfig c;
  c.embedding_dim = 4;
  c.num_fields = 3;
  c.bottom_hidden = {16, 8};
  c.tower_hidden = tower_hidden;
  c.num_tasks = 2;
  return c;
}

IakConfig Adapter() {
  IakConfig c;
  c.input_dim = 8;
  c.latent_dim = 3;
  c.encoder_hidden = {7};
  c.decoder_hidden = {5};
  return c;
}

struct Batch {
  int size = 37;  // odd: the threads get unequal slices
  std::vector<float> x, click, conversion;
};

Batch MakeBatch(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Batch b;
  b.x = RandomVector(b.size * 12, &rng);
  for (int r = 0; r < b.size; ++r) {
    b.click.push_back(b.x[r * 12] > 0.0f ? 1.0f : 0.0f);
    b.conversion.push_back(b.x[r * 12 + 1] > 0.0f ? 1.0f : 0.0f);
  }
  return b;
}

IakModule TrainedLooking(uint64_t seed) {
  IakModule iak(Adapter());
  std::mt19937_64 rng(seed);
  const auto values = RandomVector(iak.num_params(), &rng, 0.3f);
  std::copy(values.begin(), values.end(), iak.mutable_params());
  return iak;
}

// The split step computes what the one-thread FineTuneStep computes, given
// the same noise, for 1, 2 and 3 threads, both phases, and towers with one
// hidden layer (the fused path), none or two (the general path).
TEST(ParallelFineTuneStepTest, MatchesFineTuneStep) {
  const Batch b = MakeBatch(2);
  for (const std::vector<int>& towers : {std::vector<int>{6}, std::vector<int>{}, std::vector<int>{6, 4}})
  for (IakPhase phase : {IakPhase::kCompression, IakPhase::kMatching}) {
    BaseModel base(Base(towers));
    base.Init(1);
    IakModule reference = TrainedLooking(3);
    std::mt19937_64 rng(4);
    FineTuneStep one;
    const StepStats want = one.Run(base, &reference, phase, 0.2f, b.x.data(), b.size,
                                   b.click.data(), b.conversion.data(), &rng);
    for (int threads : {1, 2, 3}) {
      IakModule iak = TrainedLooking(3);
      std::mt19937_64 eps_rng(4);
      std::vector<float> eps(b.size * Adapter().latent_dim);
      IakModule::DrawEps(b.size, Adapter().latent_dim, &eps_rng, eps.data());
      ParallelFineTuneStep step(threads);
      iak.mutable_grads()[0] = 123.0f;  // overwritten, not accumulated
      const StepStats got = step.Run(base, &iak, phase, 0.2f, b.x.data(), b.size,
                                     b.click.data(), b.conversion.data(), eps.data());
      EXPECT_NEAR(got.loss, want.loss, 1e-5f) << threads;
      EXPECT_NEAR(got.task_loss, want.task_loss, 1e-5f);
      EXPECT_NEAR(got.kl, want.kl, 1e-5f);
      ASSERT_EQ(iak.grads().size(), reference.grads().size());
      for (size_t i = 0; i < iak.grads().size(); ++i) {
        EXPECT_NEAR(iak.grads()[i], reference.grads()[i],
                    1e-5f + 1e-4f * std::fabs(reference.grads()[i]))
            << "param " << i << ", " << threads << " threads";
      }
      if (phase == IakPhase::kMatching) {
        for (size_t i = 0; i < iak.encoder_param_range().end; ++i) EXPECT_EQ(iak.grads()[i], 0.0f);
      }
    }
  }
}

// What the frozen-prefix cache relies on: a sample's h does not depend on
// the batch it is computed in (its position, the batch size, the threads).
TEST(ParallelFineTuneStepTest, BottomRowDependsOnItsInputRowOnly) {
  BaseModelConfig config;
  config.embedding_dim = 16;
  config.num_fields = 26;
  config.bottom_hidden = {256, 128};
  config.tower_hidden = {64};
  config.num_tasks = 2;
  BaseModel base(config);
  base.Init(5);
  std::mt19937_64 rng(6);
  const int n = 603;  // 2 full blocks and a short one
  const int in = config.input_dim(), hd = config.h_dim();
  const auto x = RandomVector(static_cast<size_t>(n) * in, &rng, 0.1f);
  ParallelFineTuneStep two(2);
  std::vector<float> h_all(static_cast<size_t>(n) * hd);
  two.ForwardBottom(base, x.data(), n, h_all.data());
  // Each row alone, and the rows in reverse order with one thread.
  ParallelFineTuneStep one(1);
  std::vector<float> h_row(hd);
  std::vector<float> x_rev(x.size()), h_rev(h_all.size());
  for (int r = 0; r < n; ++r) {
    std::memcpy(&x_rev[static_cast<size_t>(n - 1 - r) * in], &x[static_cast<size_t>(r) * in],
                sizeof(float) * in);
  }
  one.ForwardBottom(base, x_rev.data(), n, h_rev.data());
  for (int r = 0; r < n; ++r) {
    if (r % 20 == 0) {
      one.ForwardBottom(base, &x[static_cast<size_t>(r) * in], 1, h_row.data());
      ASSERT_EQ(0, std::memcmp(h_row.data(), &h_all[static_cast<size_t>(r) * hd], sizeof(float) * hd))
          << "row " << r << " alone";
    }
    ASSERT_EQ(0, std::memcmp(&h_rev[static_cast<size_t>(n - 1 - r) * hd],
                             &h_all[static_cast<size_t>(r) * hd], sizeof(float) * hd))
        << "row " << r << " reversed";
  }
}

// The bf16 bottom (JobSpec.frozen_precision = "bf16") stays close to the
// fp32 bottom and keeps the frozen-prefix cache's guarantee: a row's h
// depends on its own x only. Skipped where the build or CPU lacks bf16.
TEST(ParallelFineTuneStepTest, Bf16BottomIsCloseToFp32AndRowIndependent) {
  if (!Bf16Bottom::Available()) GTEST_SKIP() << "no oneDNN in this build or no bf16 on this CPU";
  BaseModelConfig config;
  config.embedding_dim = 16;
  config.num_fields = 26;
  config.bottom_hidden = {256, 128};
  config.tower_hidden = {64};
  config.num_tasks = 2;
  BaseModel base(config);
  base.Init(5);
  std::mt19937_64 rng(7);
  const int n = 603;
  const int in = config.input_dim(), hd = config.h_dim();
  const auto x = RandomVector(static_cast<size_t>(n) * in, &rng, 0.1f);
  ParallelFineTuneStep fp32(2);
  std::vector<float> h32(static_cast<size_t>(n) * hd), h16(h32.size()), h_row(hd);
  fp32.ForwardBottom(base, x.data(), n, h32.data());
  StatusOr<std::unique_ptr<Bf16Bottom>> bottom = Bf16Bottom::Create(base, 2);
  ASSERT_TRUE(bottom.ok()) << bottom.status();
  ParallelFineTuneStep bf16(2);
  bf16.set_bf16_bottom(bottom->get());
  bf16.ForwardBottom(base, x.data(), n, h16.data());
  double max_err = 0, max_abs = 0;
  for (size_t i = 0; i < h32.size(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::fabs(h32[i] - h16[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(h32[i])));
  }
  EXPECT_GT(max_abs, 0.0);
  EXPECT_LT(max_err, 0.02 * max_abs) << "bf16 has 8 bits of mantissa: about 0.4% per value";
  // Two threads run the primitives at once: repeated runs must agree bit
  // for bit (oneDNN's shared scratchpad once made them race).
  std::vector<float> again(h16.size());
  for (int round = 0; round < 20; ++round) {
    bf16.ForwardBottom(base, x.data(), n, again.data());
    ASSERT_EQ(0, std::memcmp(again.data(), h16.data(), sizeof(float) * h16.size()))
        << "round " << round;
  }
  for (int r = 0; r < n; r += 37) {
    bf16.ForwardBottom(base, &x[static_cast<size_t>(r) * in], 1, h_row.data());
    ASSERT_EQ(0, std::memcmp(h_row.data(), &h16[static_cast<size_t>(r) * hd], sizeof(float) * hd))
        << "row " << r << " alone";
  }
}

}  // namespace
}  // namespace iak::model
