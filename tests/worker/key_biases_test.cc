// Key biases (worker/key_biases.h) and the adapter that trains them
// (worker/adapter_model.h): which keys get a bias, the offsets they add, the
// file format, the gradient they train on (against finite differences), and
// an exact restore from Params() and the optimizer state.
#include "worker/key_biases.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "model/base_model.h"
#include "model/whole_model_adapter_step.h"
#include "common/file_util.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/small_adapter_data.h"
#include "worker/adapter_model.h"
#include "worker/batch_pipeline.h"
#include "worker/pulled_rows.h"
#include "worker/row_source.h"

namespace iak::worker {
namespace {

using testing::AllIds;
using testing::kDim;
using testing::SmallAdapter;
using testing::SmallAdapterConfig;
using testing::SmallBase;
using testing::SmallData;
using testing::Snapshot;
using testing::WavyInputs;

KeyBiasesOptions Fields(std::vector<int> fields, int min_count = 1) {
  KeyBiasesOptions options;
  options.fields = std::move(fields);
  options.min_count = min_count;
  return options;
}

TEST(KeyBiasesTest, FindsTheKeysOfTheNamedFieldsInAscendingOrder) {
  const data::Dataset data = SmallData();  // users 1..5, items 101..103
  EXPECT_EQ(KeyBiases::Find(data, AllIds(data), Fields({0})).keys(),
            (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(KeyBiases::Find(data, AllIds(data), Fields({1, 0})).keys(),
            (std::vector<uint64_t>{1, 2, 3, 4, 5, 101, 102, 103}));
  // User 4 occurs three times, 1 twice, 2, 3 and 5 once.
  const KeyBiases frequent = KeyBiases::Find(data, AllIds(data), Fields({0}, 2));
  EXPECT_EQ(frequent.keys(), (std::vector<uint64_t>{1, 4}));
  EXPECT_EQ(frequent.values(), (std::vector<float>{0, 0}));
  // Only the given samples count.
  EXPECT_EQ(KeyBiases::Find(data, {0, 1}, Fields({0})).keys(), (std::vector<uint64_t>{1, 4}));
}

TEST(KeyBiasesTest, OptionsNameTheDataFields) {
  const data::Dataset data = SmallData();
  proto::KeyBiasesSpec spec;
  spec.set_enabled(true);
  EXPECT_EQ(KeyBiasesOptionsFor(spec, data).status().code(), StatusCode::kInvalidArgument);
  spec.add_fields("item");
  StatusOr<KeyBiasesOptions> options = KeyBiasesOptionsFor(spec, data);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->fields, (std::vector<int>{1}));
  EXPECT_FLOAT_EQ(options->learning_rate, 0.2f);
  EXPECT_EQ(options->min_count, 1);
  spec.add_fields("item");
  const Status twice = KeyBiasesOptionsFor(spec, data).status();
  EXPECT_NE(twice.message().find("'item' twice"), std::string::npos) << twice;
  spec.set_fields(1, "movie");
  const Status unknown = KeyBiasesOptionsFor(spec, data).status();
  EXPECT_NE(unknown.message().find("no field 'movie'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.message().find("user, item"), std::string::npos) << unknown;
}

TEST(KeyBiasesTest, OffsetsSumTheBiasesOfASamplesKeys) {
  const data::Dataset data = SmallData();
  StatusOr<KeyBiases> biases = KeyBiases::FromValues({1, 4, 103}, {0.5f, -2.0f, 0.25f});
  ASSERT_TRUE(biases.ok());
  // Samples: (1, 101), (4, 101), (4, 103), (2, 102).
  const uint32_t ids[] = {0, 1, 2, 3};
  std::vector<float> offsets(4, -9.0f);
  biases->Offsets(data, ids, 4, offsets.data());
  EXPECT_EQ(offsets, (std::vector<float>{0.5f, -2.0f, -1.75f, 0.0f}));
  // Gradients: every key with a bias gets its samples' dlogit.
  const float dlogit[] = {1, 10, 100, 1000};
  std::vector<float> grads(3, 0.0f);
  biases->AccumulateGradients(data, ids, 4, dlogit, 1, grads.data());
  EXPECT_EQ(grads, (std::vector<float>{1, 110, 100}));
  EXPECT_FALSE(KeyBiases::FromValues({4, 1}, {0, 0}).ok());
  EXPECT_FALSE(KeyBiases::FromValues({1}, {0, 0}).ok());
}

TEST(KeyBiasesTest, FilesRoundTripAndACorruptOneIsDataLoss) {
  testing_util::TempDir dir("key_biases");
  ASSERT_TRUE(dir.ok());
  StatusOr<KeyBiases> biases = KeyBiases::FromValues({7, 9}, {0.5f, -1.5f});
  ASSERT_TRUE(biases.ok());
  StatusOr<std::unique_ptr<KeyBiases>> none = LoadKeyBiasesIfAny(dir.path(), "d/1");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  ASSERT_TRUE(SaveKeyBiases(dir.path(), "d/1", *biases).ok());
  StatusOr<std::unique_ptr<KeyBiases>> loaded = LoadKeyBiasesIfAny(dir.path(), "d/1");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->keys(), biases->keys());
  EXPECT_EQ((*loaded)->values(), biases->values());
  const std::string blob = biases->Serialize();
  for (size_t cut : {size_t{0}, size_t{6}, blob.size() - 1}) {
    EXPECT_EQ(KeyBiases::Parse(blob.substr(0, cut)).status().code(), StatusCode::kDataLoss);
  }
  ASSERT_TRUE(WriteFileAtomically(KeyBiasesPath(dir.path(), "d/1"), blob.substr(0, blob.size() - 3)).ok());
  const Status corrupt = LoadKeyBiasesIfAny(dir.path(), "d/1").status();
  EXPECT_EQ(corrupt.code(), StatusCode::kDataLoss);
  EXPECT_NE(corrupt.message().find(KeyBiasesPath(dir.path(), "d/1")), std::string::npos);
  // A unit with no key over min_count writes an empty table, which reads back
  // (an empty array once made ByteReader pass a null pointer to memcpy).
  StatusOr<KeyBiases> empty = KeyBiases::FromValues({}, {});
  ASSERT_TRUE(empty.ok());
  StatusOr<KeyBiases> empty_read = KeyBiases::Parse(empty->Serialize());
  ASSERT_TRUE(empty_read.ok()) << empty_read.status();
  EXPECT_EQ(empty_read->num_values(), 0u);
  biases->mutable_values()[0] = std::nanf("");
  EXPECT_EQ(SaveKeyBiases(dir.path(), "d2", *biases).code(), StatusCode::kFailedPrecondition);
}

// The offsets enter the CTR logit before the loss; dlogits() is the loss's
// gradient w.r.t. them: checked against central differences.
TEST(KeyBiasesTest, OffsetGradientMatchesFiniteDifferences) {
  const model::BaseModel base = SmallBase();
  const model::IakModule adapter = SmallAdapter(base.config().h_dim(), /*plain=*/true);
  const int n = 3;
  std::vector<float> x = WavyInputs(base, n, 1.3f);
  const float click[] = {1, 0, 1};
  std::vector<float> offset{0.2f, -0.4f, 0.1f};
  std::vector<float> grads(adapter.num_params());
  model::WholeModelAdapterStep step;
  auto loss = [&](const std::vector<float>& o) {
    return step.Run(base, adapter, /*adapter_on_x=*/false, model::IakPhase::kCompression, 0,
                    x.data(), n, click, nullptr, nullptr, grads.data(), nullptr, o.data())
        .loss;
  };
  loss(offset);
  const std::vector<float> analytic(step.dlogits(), step.dlogits() + n);
  const float h = 1e-2f;
  for (int i = 0; i < n; ++i) {
    std::vector<float> plus = offset, minus = offset;
    plus[i] += h;
    minus[i] -= h;
    EXPECT_NEAR(analytic[i], (loss(plus) - loss(minus)) / (2 * h), 1e-4f) << "sample " << i;
  }
  // Scoring adds the same offsets: p = sigmoid(logit + offset).
  std::vector<float> plain(n), shifted(n);
  step.Predict(base, adapter, false, x.data(), n, plain.data(), nullptr);
  step.Predict(base, adapter, false, x.data(), n, shifted.data(), nullptr, offset.data());
  for (int i = 0; i < n; ++i) {
    const float logit = std::log(plain[i] / (1 - plain[i]));
    EXPECT_NEAR(shifted[i], 1 / (1 + std::exp(-(logit + offset[i]))), 1e-5f);
  }
}

// From a given h (the frozen-prefix cache's) the step is Run's on h, bit
// for bit: the same loss, adapter gradients and logit gradients.
TEST(KeyBiasesTest, StepFromACachedHIsTheStepFromX) {
  const model::BaseModel base = SmallBase();
  const model::IakModule adapter = SmallAdapter(base.config().h_dim(), /*plain=*/false);
  const int n = 3;
  std::vector<float> x = WavyInputs(base, n, 0.7f);
  const float click[] = {1, 0, 1};
  const std::vector<float> offset{0.2f, -0.4f, 0.1f};
  const std::vector<float> eps(static_cast<size_t>(n) * adapter.config().latent_dim, 0.3f);
  std::vector<float> from_x(adapter.num_params()), from_h(adapter.num_params());
  model::WholeModelAdapterStep step;
  const float loss_x = step.Run(base, adapter, /*adapter_on_x=*/false,
                                model::IakPhase::kCompression, 1e-3f, x.data(), n, click, nullptr,
                                eps.data(), from_x.data(), nullptr, offset.data())
                           .loss;
  const std::vector<float> dlogits_x(step.dlogits(), step.dlogits() + n);
  std::vector<float> h(static_cast<size_t>(n) * base.config().h_dim());
  model::WholeModelAdapterStep cached;
  cached.ForwardBottom(base, x.data(), n, h.data());
  const float loss_h = cached.RunOnH(base, adapter, model::IakPhase::kCompression, 1e-3f,
                                     h.data(), n, click, nullptr, eps.data(), from_h.data(),
                                     offset.data())
                           .loss;
  EXPECT_EQ(loss_h, loss_x);
  EXPECT_EQ(from_h, from_x);
  EXPECT_EQ(std::vector<float>(cached.dlogits(), cached.dlogits() + n), dlogits_x);
}

// An adapter with key biases (on h or on x, with or without new-key rows):
// a few steps move the biases of the keys its batches hold; scoring adds
// them; Params() and the optimizer state restore it exactly; a state of
// another key set is refused.
void CheckTrainsBiasesAndRestoresExactly(AdapterInsertion insertion, bool with_rows) {
  SCOPED_TRACE(std::string(AdapterInsertionName(insertion)) + (with_rows ? " with rows" : ""));
  const data::Dataset data = SmallData();
  const model::BaseModel base = SmallBase();
  MemoryRowSource frozen(Snapshot(), kDim);
  AdapterContext context;
  context.data = &data;
  context.base = &base;
  context.rows = &frozen;
  const model::IakConfig config = SmallAdapterConfig(
      insertion == AdapterInsertion::kX ? base.config().input_dim() : base.config().h_dim());
  auto make = [&](const KeyBiasesOptions& options) {
    std::unique_ptr<AdapterModel> model;
    if (with_rows) {
      StatusOr<NewKeyRows> rows = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, {});
      EXPECT_TRUE(rows.ok());
      model = std::make_unique<AdapterModel>(context, config, insertion, 5, std::move(*rows),
                                             NewKeyRowsOptions());
    } else {
      model = std::make_unique<AdapterModel>(context, config, insertion, 5);
    }
    model->AddKeyBiases(KeyBiases::Find(data, AllIds(data), options), options);
    return model;
  };
  const KeyBiasesOptions users = Fields({0});
  std::unique_ptr<AdapterModel> model = make(users);
  EXPECT_EQ(model->prefix_cache_width(),
            with_rows ? 0
                      : (insertion == AdapterInsertion::kX ? base.config().input_dim()
                                                           : base.config().h_dim()));
  const size_t rows = with_rows ? 3 * kDim : 0;
  EXPECT_EQ(model->num_grads(), model->adapter().num_params() + rows + 5);
  // Samples 0..3 only: users 1, 4, 2; users 3 and 5 see no gradient.
  PulledRows pulled(kDim);
  PreparedBatch batch;
  batch.ids = {0, 1, 2, 3};
  for (uint32_t id : batch.ids) batch.click.push_back(data.click[id]);
  batch.eps.assign(batch.ids.size() * config.latent_dim, 0.1f);
  if (!with_rows) {
    batch.x.resize(batch.ids.size() * base.config().input_dim());
    ASSERT_TRUE(FetchAndPool(data, batch.ids.data(), static_cast<int>(batch.ids.size()), &frozen,
                             &pulled, batch.x.data())
                    .ok());
  }
  PhaseSettings phase;
  phase.learning_rate = 1e-2f;
  auto step = [&](AdapterModel* m) {
    ASSERT_TRUE(m->Gradients(batch, phase).ok());
    ASSERT_TRUE(m->Step(phase).ok());
  };
  std::vector<float> before(data.size());
  const std::vector<uint32_t> all = AllIds(data);
  ASSERT_TRUE(model->Score(all.data(), static_cast<int>(all.size()), before.data(), nullptr).ok());
  for (int s = 0; s < 3; ++s) step(model.get());
  const std::vector<float>& b = model->key_biases()->values();  // users 1..5
  EXPECT_NE(b[0], 0.0f);
  EXPECT_NE(b[1], 0.0f);
  EXPECT_EQ(b[2], 0.0f);
  EXPECT_NE(b[3], 0.0f);
  EXPECT_EQ(b[4], 0.0f);
  // Scoring is the whole model plus the sample's bias on the CTR logit.
  std::vector<float> scored(data.size()), reference(data.size()), offsets(data.size());
  ASSERT_TRUE(model->Score(all.data(), static_cast<int>(all.size()), scored.data(), nullptr).ok());
  EXPECT_NE(scored, before);
  std::vector<float> x(all.size() * base.config().input_dim());
  RowSource* source = with_rows ? const_cast<NewKeyRows*>(model->new_rows())
                                : static_cast<RowSource*>(&frozen);
  ASSERT_TRUE(FetchAndPool(data, all.data(), static_cast<int>(all.size()), source, &pulled,
                           x.data())
                  .ok());
  model->key_biases()->Offsets(data, all.data(), static_cast<int>(all.size()), offsets.data());
  model::WholeModelAdapterStep whole;
  whole.Predict(base, model->adapter(), insertion == AdapterInsertion::kX, x.data(),
                static_cast<int>(all.size()), reference.data(), nullptr, offsets.data());
  EXPECT_EQ(scored, reference);

  std::unique_ptr<AdapterModel> restored = make(users);
  ASSERT_TRUE(restored->SetParams(model->Params()).ok());
  ASSERT_TRUE(restored->SetOptimizerState(model->OptimizerState()).ok());
  step(model.get());
  step(restored.get());
  EXPECT_EQ(restored->Params(), model->Params());
  std::unique_ptr<AdapterModel> other = make(Fields({0}, 2));  // users 1 and 4 only
  EXPECT_EQ(other->SetOptimizerState(model->OptimizerState()).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(other->SetParams(model->Params()).ok());
}

TEST(KeyBiasesTest, AdapterOnHTrainsBiasesAndRestoresExactly) {
  CheckTrainsBiasesAndRestoresExactly(AdapterInsertion::kH, /*with_rows=*/false);
}

TEST(KeyBiasesTest, AdapterOnXTrainsBiasesAndRestoresExactly) {
  CheckTrainsBiasesAndRestoresExactly(AdapterInsertion::kX, /*with_rows=*/false);
}

TEST(KeyBiasesTest, AdapterWithNewKeyRowsTrainsBiasesAndRestoresExactly) {
  CheckTrainsBiasesAndRestoresExactly(AdapterInsertion::kX, /*with_rows=*/true);
}

}  // namespace
}  // namespace iak::worker
