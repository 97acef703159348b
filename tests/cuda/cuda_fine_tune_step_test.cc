#include "cuda/cuda_fine_tune_step.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/adam.h"
#include "model/fine_tune_step.h"
#include "tests/cuda/gpu_test_util.h"

namespace iak::cuda {
namespace {

using testing::ExpectVectorsNear;

model::BaseModelConfig BaseConfig(int tasks) {
  model::BaseModelConfig c;
  c.embedding_dim = 8;
  c.num_fields = 5;
  c.bottom_hidden = {64, 32};
  c.tower_hidden = {16};
  c.num_tasks = tasks;
  return c;
}

model::IakConfig AdapterConfig(bool plain) {
  model::IakConfig c;
  c.input_dim = 32;
  c.latent_dim = 8;
  c.encoder_hidden = {24};
  c.decoder_hidden = {24};
  c.plain_adapter = plain;
  return c;
}

struct Batch {
  int size = 0;
  std::vector<float> x, click, conversion;
};

Batch MakeBatch(int size, int input_dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::bernoulli_distribution coin(0.4);
  Batch b;
  b.size = size;
  b.x.resize(static_cast<size_t>(size) * input_dim);
  for (float& v : b.x) v = normal(rng);
  for (int r = 0; r < size; ++r) {
    b.click.push_back(coin(rng) ? 1.0f : 0.0f);
    b.conversion.push_back(coin(rng) ? 1.0f : 0.0f);
  }
  return b;
}

// A module with every parameter random (the decoder's zero start would
// make the encoder gradients vanish and prove nothing).
model::IakModule RandomModule(const model::IakConfig& config, uint64_t seed) {
  model::IakModule iak(config);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (size_t i = 0; i < iak.num_params(); ++i) iak.mutable_params()[i] = normal(rng);
  return iak;
}

std::vector<float> Slice(const std::vector<float>& v, model::ParamRange range) {
  return std::vector<float>(v.begin() + range.begin, v.begin() + range.end);
}

// Runs the CPU and the GPU step from the same rng state and compares.
void ExpectSameStep(int tasks, bool plain, model::IakPhase phase, int batch_size,
                    uint64_t seed) {
  model::BaseModel base(BaseConfig(tasks));
  base.Init(seed);
  model::IakModule cpu_iak = RandomModule(AdapterConfig(plain), seed + 1);
  model::IakModule gpu_iak = cpu_iak;
  const Batch b = MakeBatch(batch_size, base.config().input_dim(), seed + 2);
  const float beta = 0.7f;

  std::mt19937_64 cpu_rng(seed + 3);
  std::mt19937_64 gpu_rng(seed + 3);
  model::FineTuneStep cpu_step;
  const model::StepStats cpu = cpu_step.Run(base, &cpu_iak, phase, beta, b.x.data(), b.size,
                                            b.click.data(), b.conversion.data(), &cpu_rng);

  CudaStepOptions options;
  options.max_batch = 128;
  auto gpu_step = CudaFineTuneStep::Create(base, AdapterConfig(plain), options);
  ASSERT_TRUE(gpu_step.ok()) << gpu_step.status();
  auto gpu = (*gpu_step)->Run(&gpu_iak, phase, beta, b.x.data(), b.size, b.click.data(),
                              b.conversion.data(), &gpu_rng);
  ASSERT_TRUE(gpu.ok()) << gpu.status();

  EXPECT_NEAR(gpu->task_loss, cpu.task_loss, 1e-5 * std::abs(cpu.task_loss) + 1e-6);
  EXPECT_NEAR(gpu->kl, cpu.kl, 1e-5 * std::abs(cpu.kl) + 1e-6);
  EXPECT_NEAR(gpu->loss, cpu.loss, 1e-5 * std::abs(cpu.loss) + 1e-6);
  if (plain) {
    EXPECT_EQ(gpu->kl, 0.0f);
  }
  // Both consumed the same number of draws (the eps of this batch).
  EXPECT_EQ(gpu_rng(), cpu_rng());

  const auto dec = cpu_iak.decoder_param_range();
  const auto enc = cpu_iak.encoder_param_range();
  ExpectVectorsNear(Slice(gpu_iak.grads(), dec), Slice(cpu_iak.grads(), dec), "decoder grad");
  if (phase == model::IakPhase::kCompression) {
    ExpectVectorsNear(Slice(gpu_iak.grads(), enc), Slice(cpu_iak.grads(), enc), "encoder grad");
  } else {
    for (size_t i = enc.begin; i < enc.end; ++i) {
      ASSERT_EQ(gpu_iak.grads()[i], 0.0f) << "frozen encoder got a gradient at " << i;
    }
  }
}

// Host code, so it runs without a device: the GPU step's noise is the CPU
// module's draw (one std::normal_distribution<float> per forward).
TEST(DrawReparamNoiseTest, IsTheStandardDistributionsDrawBitForBit) {
  for (const auto& [batch, k] : {std::pair{1, 1}, {3, 5}, {256, 8}, {1000, 7}}) {
    std::mt19937_64 ours(42), reference(42);
    std::vector<float> eps(static_cast<size_t>(batch) * k);
    DrawReparamNoise(&ours, batch, k, eps.data());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < eps.size(); ++i) {
      ASSERT_EQ(eps[i], normal(reference)) << batch << "x" << k << " draw " << i;
    }
    EXPECT_EQ(ours(), reference()) << "the engines end in the same state";
  }
}

TEST(CudaFineTuneStepTest, EsmmCompressionMatchesCpu) {
  IAK_SKIP_WITHOUT_GPU();
  ExpectSameStep(/*tasks=*/2, /*plain=*/false, model::IakPhase::kCompression, 97, 11);
}

TEST(CudaFineTuneStepTest, EsmmMatchingMatchesCpuAndLeavesEncoderAlone) {
  IAK_SKIP_WITHOUT_GPU();
  ExpectSameStep(2, false, model::IakPhase::kMatching, 64, 21);
}

TEST(CudaFineTuneStepTest, CtrPlainAdapterMatchesCpu) {
  IAK_SKIP_WITHOUT_GPU();
  ExpectSameStep(1, true, model::IakPhase::kCompression, 33, 31);
}

TEST(CudaFineTuneStepTest, CtrVariationalFullBatchMatchesCpu) {
  IAK_SKIP_WITHOUT_GPU();
  ExpectSameStep(1, false, model::IakPhase::kCompression, 128, 41);
}

// Ten Adam steps on each side, batches of changing size through the same
// reused buffers: the two trajectories stay together.
TEST(CudaFineTuneStepTest, TrainingTrajectoryFollowsCpu) {
  IAK_SKIP_WITHOUT_GPU();
  model::BaseModel base(BaseConfig(2));
  base.Init(51);
  model::IakModule cpu_iak(AdapterConfig(false));
  cpu_iak.Init(52);
  model::IakModule gpu_iak = cpu_iak;
  model::AdamOptions adam_options;
  model::Adam cpu_adam(cpu_iak.num_params(), adam_options);
  model::Adam gpu_adam(gpu_iak.num_params(), adam_options);
  std::mt19937_64 cpu_rng(53), gpu_rng(53);
  model::FineTuneStep cpu_step;
  CudaStepOptions options;
  options.max_batch = 64;
  auto gpu_step = CudaFineTuneStep::Create(base, AdapterConfig(false), options);
  ASSERT_TRUE(gpu_step.ok()) << gpu_step.status();
  for (int s = 0; s < 10; ++s) {
    const Batch b = MakeBatch(40 + 2 * s, base.config().input_dim(), 60 + s);
    const auto cpu = cpu_step.Run(base, &cpu_iak, model::IakPhase::kCompression, 0.1f,
                                  b.x.data(), b.size, b.click.data(), b.conversion.data(),
                                  &cpu_rng);
    auto gpu = (*gpu_step)->Run(&gpu_iak, model::IakPhase::kCompression, 0.1f, b.x.data(),
                                b.size, b.click.data(), b.conversion.data(), &gpu_rng);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    EXPECT_NEAR(gpu->loss, cpu.loss, 1e-4 * std::abs(cpu.loss)) << "step " << s;
    cpu_adam.Step(cpu_iak.mutable_params(), cpu_iak.grads().data());
    gpu_adam.Step(gpu_iak.mutable_params(), gpu_iak.grads().data());
  }
  ExpectVectorsNear(gpu_iak.params(), cpu_iak.params(), "params after 10 steps", 1e-3);
}

TEST(CudaFineTuneStepTest, BadArgumentsAreErrorsNotCrashes) {
  IAK_SKIP_WITHOUT_GPU();
  model::BaseModel base(BaseConfig(2));
  base.Init(61);
  CudaStepOptions options;
  options.max_batch = 16;
  auto step = CudaFineTuneStep::Create(base, AdapterConfig(false), options);
  ASSERT_TRUE(step.ok()) << step.status();
  model::IakModule iak(AdapterConfig(false));
  const Batch b = MakeBatch(17, base.config().input_dim(), 62);
  std::mt19937_64 rng(63);
  auto too_big = (*step)->Run(&iak, model::IakPhase::kCompression, 0.1f, b.x.data(), b.size,
                              b.click.data(), b.conversion.data(), &rng);
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  model::IakModule other(AdapterConfig(true));
  auto wrong_shape = (*step)->Run(&other, model::IakPhase::kCompression, 0.1f, b.x.data(), 8,
                                  b.click.data(), b.conversion.data(), &rng);
  EXPECT_EQ(wrong_shape.status().code(), StatusCode::kInvalidArgument);

  model::IakConfig misplaced = AdapterConfig(false);
  misplaced.input_dim = 31;
  EXPECT_EQ(CudaFineTuneStep::Create(base, misplaced, options).status().code(),
            StatusCode::kInvalidArgument);
}

// The machines without a GPU check the other side: a clear Unavailable.
TEST(CudaFineTuneStepTest, WithoutDeviceCreateSaysUnavailable) {
  if (DeviceCount().ok()) GTEST_SKIP() << "a device is present";
  model::BaseModel base(BaseConfig(1));
  auto step = CudaFineTuneStep::Create(base, AdapterConfig(false), CudaStepOptions());
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.status().code(), StatusCode::kUnavailable) << step.status();
  EXPECT_NE(step.status().message().find("CUDA"), std::string::npos) << step.status();
}

}  // namespace
}  // namespace iak::cuda
