#include "model/base_model.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/loss.h"
#include "tests/model/grad_check.h"

namespace iak::model {
namespace {

using testing::CheckAllGrads;
using testing::RandomVector;

BaseModelConfig SmallConfig(int tasks) {
  BaseModelConfig c;
  c.embedding_dim = 3;
  c.num_fields = 2;
  c.bottom_hidden = {6, 5};
  c.tower_hidden = {4};
  c.num_tasks = tasks;
  return c;
}

class BaseModelGradTest : public ::testing::TestWithParam<int> {};

TEST_P(BaseModelGradTest, FullChainGradientsMatchFiniteDifferences) {
  const int tasks = GetParam();
  const int batch = 4;
  BaseModel model(SmallConfig(tasks));
  model.Init(31);
  for (size_t i = 0; i < model.num_params(); ++i) model.mutable_params()[i] += 0.03f;  // off the ReLU kinks
  std::mt19937_64 rng(32);
  auto x = RandomVector(batch * model.config().input_dim(), &rng);
  const std::vector<float> click = {1, 0, 1, 0};
  const std::vector<float> conversion = {1, 0, 0, 0};
  BaseModelWorkspace ws;
  std::vector<float> h(batch * 5), dh(batch * 5), logits(batch * tasks),
      dlogits(batch * tasks), dx(x.size());
  auto loss = [&] {
    model.ForwardBottom(x.data(), batch, h.data(), &ws);
    model.ForwardTowers(h.data(), batch, logits.data(), &ws);
    return static_cast<double>(TaskLoss(logits.data(), batch, tasks, click.data(),
                                        conversion.data(), dlogits.data()));
  };
  loss();
  model.ZeroGrads();
  float* grads = model.mutable_grads();
  model.BackwardTowers(dlogits.data(), batch, dh.data(), grads, &ws);
  model.BackwardBottom(dh.data(), batch, dx.data(), grads, &ws);
  const std::vector<float> analytic = model.grads();
  CheckAllGrads(loss, x.data(), dx.data(), x.size(), "dx");
  CheckAllGrads(loss, model.mutable_params(), analytic.data(),
                analytic.size(), "dparams");
}

INSTANTIATE_TEST_SUITE_P(Tasks, BaseModelGradTest, ::testing::Values(1, 2));

TEST(BaseModelTest, FrozenTowersGiveSameInputGradient) {
  const int batch = 3;
  BaseModel model(SmallConfig(2));
  model.Init(33);
  std::mt19937_64 rng(34);
  auto h = RandomVector(batch * 5, &rng);
  auto dlogits = RandomVector(batch * 2, &rng);
  std::vector<float> logits(batch * 2), dh1(batch * 5), dh2(batch * 5);
  BaseModelWorkspace ws;
  model.ForwardTowers(h.data(), batch, logits.data(), &ws);
  model.BackwardTowers(dlogits.data(), batch, dh1.data(), model.mutable_grads(), &ws);
  model.BackwardTowers(dlogits.data(), batch, dh2.data(), nullptr, &ws);
  EXPECT_EQ(dh1, dh2);
}

TEST(BaseModelTest, InitIsDeterministicInTheSeed) {
  BaseModel a(SmallConfig(1)), b(SmallConfig(1)), c(SmallConfig(1));
  a.Init(5);
  b.Init(5);
  c.Init(6);
  EXPECT_EQ(a.params(), b.params());
  EXPECT_NE(a.params(), c.params());
}

TEST(BaseModelTest, CopiesAndMovesOwnTheirParameters) {
  BaseModel a(SmallConfig(1));
  a.Init(7);
  BaseModel b = a;
  a.mutable_params()[0] += 100.0f;  // must not leak into the copy
  std::mt19937_64 rng(8);
  auto x = RandomVector(2 * 6, &rng);
  std::vector<float> h_b(2 * 5), h_moved(2 * 5);
  BaseModelWorkspace ws;
  b.ForwardBottom(x.data(), 2, h_b.data(), &ws);
  BaseModel moved = std::move(b);
  moved.ForwardBottom(x.data(), 2, h_moved.data(), &ws);
  EXPECT_EQ(h_b, h_moved);
}

TEST(BaseModelTest, SerializeRoundTrip) {
  BaseModel model(SmallConfig(2));
  model.Init(9);
  const std::string blob = model.Serialize();
  StatusOr<BaseModel> back = BaseModel::Deserialize(blob);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->params(), model.params());
  EXPECT_EQ(back->config().bottom_hidden, model.config().bottom_hidden);
  EXPECT_EQ(back->config().tower_hidden, model.config().tower_hidden);
  EXPECT_EQ(back->config().num_tasks, 2);
  EXPECT_EQ(back->config().num_fields, 2);
  EXPECT_EQ(back->config().embedding_dim, 3);
}

TEST(BaseModelTest, EveryTruncationIsDataLoss) {
  BaseModel model(SmallConfig(1));
  model.Init(10);
  const std::string blob = model.Serialize();
  for (size_t len = 0; len < blob.size(); ++len) {
    StatusOr<BaseModel> back = BaseModel::Deserialize(std::string_view(blob).substr(0, len));
    ASSERT_FALSE(back.ok()) << len;
    EXPECT_EQ(back.status().code(), StatusCode::kDataLoss) << len;
  }
  EXPECT_EQ(BaseModel::Deserialize(blob + "x").status().code(), StatusCode::kDataLoss);
  std::string corrupt = blob;
  corrupt[12] = '\x7f';  // embedding_dim's low byte -> wrong parameter count
  EXPECT_EQ(BaseModel::Deserialize(corrupt).status().code(), StatusCode::kDataLoss);
}

TEST(BaseModelTest, ValidateRejectsBadConfigs) {
  BaseModelConfig c = SmallConfig(1);
  c.num_tasks = 3;
  EXPECT_EQ(ValidateBaseModelConfig(c).code(), StatusCode::kInvalidArgument);
  c = SmallConfig(1);
  c.bottom_hidden.clear();
  EXPECT_EQ(ValidateBaseModelConfig(c).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateBaseModelConfig(SmallConfig(2)).ok());
}

}  // namespace
}  // namespace iak::model
