#include "model/lora.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::Dot;
using testing::RandomVector;

BaseModelConfig SmallConfig(int tasks) {
  BaseModelConfig c;
  c.embedding_dim = 3;
  c.num_fields = 2;
  c.bottom_hidden = {5, 4};
  c.tower_hidden = {3};
  c.num_tasks = tasks;
  return c;
}

TEST(LoraTest, SlotsCoverEveryDenseLayerOfTheBase) {
  const BaseModelConfig c = SmallConfig(2);
  const std::vector<DenseLayerSlot> slots = DenseLayerSlots(c);
  // bottom 6->5->4, two towers 4->3->1.
  ASSERT_EQ(slots.size(), 6u);
  EXPECT_EQ(slots[0].in_dim, 6);
  EXPECT_EQ(slots[0].out_dim, 5);
  EXPECT_EQ(slots[2].offset, BaseModel(c).tower_param_range(0).begin);
  EXPECT_EQ(slots[4].offset, BaseModel(c).tower_param_range(1).begin);
  LoraAdapter lora(c, LoraConfig{2, 2.0f});
  // rank 2: 2 * (6+5) + 2 * (5+4) + 2 * [2 * (4+3) + 2 * (3+1)]
  EXPECT_EQ(lora.num_params(), 22u + 18u + 2u * (14u + 8u));
}

TEST(LoraTest, UntrainedAdapterLeavesTheBaseUnchanged) {
  const BaseModelConfig c = SmallConfig(1);
  BaseModel base(c);
  base.Init(3);
  LoraAdapter lora(c, LoraConfig{2, 4.0f});
  lora.Init(4);
  std::vector<float> merged(base.num_params());
  lora.Merge(base.params().data(), merged.data());
  EXPECT_EQ(merged, base.params());
}

TEST(LoraTest, InvalidConfigIsRefused) {
  EXPECT_FALSE(ValidateLoraConfig(LoraConfig{0, 1.0f}).ok());
  EXPECT_FALSE(ValidateLoraConfig(LoraConfig{2, 0.0f}).ok());
  EXPECT_TRUE(ValidateLoraConfig(LoraConfig{2, 1.0f}).ok());
}

// Gradients of A and B through merge + the base model's forward match finite
// differences of loss = <logits, c>.
TEST(LoraTest, GradientsMatchFiniteDifferences) {
  const BaseModelConfig c = SmallConfig(2);
  BaseModel base(c);
  base.Init(11);
  LoraAdapter lora(c, LoraConfig{2, 3.0f});
  lora.Init(12);
  // Non-zero B as after some training, so that dA is not trivially zero.
  std::mt19937_64 rng(13);
  const std::vector<float> random = RandomVector(lora.num_params(), &rng, 0.3f);
  for (size_t i = 0; i < lora.num_params(); ++i) lora.mutable_params()[i] += random[i];

  const int batch = 3;
  const std::vector<float> x = RandomVector(static_cast<size_t>(batch) * c.input_dim(), &rng);
  const std::vector<float> coeff = RandomVector(static_cast<size_t>(batch) * c.num_tasks, &rng);
  BaseModel merged(base);
  BaseModelWorkspace ws;
  std::vector<float> h(static_cast<size_t>(batch) * c.h_dim()), dh(h.size());
  std::vector<float> logits(coeff.size());
  auto loss = [&]() {
    lora.Merge(base.params().data(), merged.mutable_params());
    merged.ForwardBottom(x.data(), batch, h.data(), &ws);
    merged.ForwardTowers(h.data(), batch, logits.data(), &ws);
    return Dot(logits.data(), coeff);
  };
  loss();
  merged.ZeroGrads();
  merged.BackwardTowers(coeff.data(), batch, dh.data(), merged.mutable_grads(), &ws);
  merged.BackwardBottom(dh.data(), batch, nullptr, merged.mutable_grads(), &ws);
  lora.ZeroGrads();
  lora.Backward(merged.grads().data());
  const std::vector<float> analytic = lora.grads();
  double norm = 0;
  for (float g : analytic) norm += std::abs(g);
  EXPECT_GT(norm, 1e-3);
  CheckAllGrads(loss, lora.mutable_params(), analytic.data(), lora.num_params(), "lora");
}

}  // namespace
}  // namespace iak::model
