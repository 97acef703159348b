// New-key rows (worker/new_key_rows.h) and the adapter that trains them
// (worker/adapter_model.h): which keys get rows, the overlay read, the file
// format, the input gradient they train on, and that a snapshot key never
// changes while a new key's row does.
#include "worker/new_key_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/whole_model_adapter_step.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/small_adapter_data.h"
#include "worker/adapter_model.h"
#include "worker/batch_pipeline.h"
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




TEST(NewKeyRowsTest, FindsTheKeysTheSnapshotLacksAndStartsThemAtTheFieldMean) {
  const data::Dataset data = SmallData();
  MemoryRowSource frozen(Snapshot(), kDim);
  NewKeyRowsOptions mean;
  mean.init = NewRowInit::kFieldMean;
  StatusOr<NewKeyRows> rows = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, mean);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->keys(), (std::vector<uint64_t>{4, 5, 103}));
  // Users 1, 2, 3 are present: key 4's row is their mean.
  const float* user = rows->FindOwn(4);
  ASSERT_NE(user, nullptr);
  EXPECT_FLOAT_EQ(user[0], (0.1f + 0.2f + 0.3f) / 3);
  EXPECT_FLOAT_EQ(user[1], -0.2f);
  const float* item = rows->FindOwn(103);
  ASSERT_NE(item, nullptr);
  EXPECT_FLOAT_EQ(item[1], (1.01f + 1.02f) / 2);
  EXPECT_EQ(rows->FindOwn(1), nullptr);

  NewKeyRowsOptions zero;  // the default init
  zero.min_count = 2;
  StatusOr<NewKeyRows> frequent = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, zero);
  ASSERT_TRUE(frequent.ok());
  EXPECT_EQ(frequent->keys(), (std::vector<uint64_t>{4, 103}));
  EXPECT_EQ(frequent->FindOwn(4)[0], 0.0f);
  NewKeyRowsOptions capped;
  capped.max_rows = 1;  // the most frequent: key 4
  StatusOr<NewKeyRows> one = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, capped);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->keys(), (std::vector<uint64_t>{4}));
}

TEST(NewKeyRowsTest, OverlayReadsOwnRowsAndGradientsReachOnlyNewKeys) {
  const data::Dataset data = SmallData();
  MemoryRowSource frozen(Snapshot(), kDim);
  StatusOr<NewKeyRows> rows = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, {});
  ASSERT_TRUE(rows.ok());
  rows->mutable_values()[0] = 7.0f;  // key 4's first value
  const uint64_t keys[] = {1, 4, 99};
  std::vector<float> out(3 * kDim, -1.0f);
  ASSERT_TRUE(rows->Fetch(keys, 3, out.data()).ok());
  EXPECT_FLOAT_EQ(out[0], Snapshot()[1][0]);
  EXPECT_FLOAT_EQ(out[kDim], 7.0f);
  EXPECT_EQ(out[2 * kDim], 0.0f);  // absent and without a row: zero, as frozen

  model::RowGradients grads(kDim);
  const float g[kDim] = {1, 2, 3, 4};
  grads.Add(1, g);    // a snapshot key: dropped
  grads.Add(103, g);  // a new key
  std::vector<float> row_grads(rows->num_values(), 0.0f);
  rows->AccumulateGradients(grads, row_grads.data());
  for (int j = 0; j < kDim; ++j) {
    EXPECT_EQ(row_grads[j], 0.0f);             // key 4
    EXPECT_EQ(row_grads[2 * kDim + j], g[j]);  // key 103
  }
}

TEST(NewKeyRowsTest, FileRoundTripsAndCorruptFilesAreRefused) {
  const data::Dataset data = SmallData();
  MemoryRowSource frozen(Snapshot(), kDim);
  StatusOr<NewKeyRows> rows = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, {});
  ASSERT_TRUE(rows.ok());
  testing_util::TempDir dir("iak_new_key_rows_test");
  ASSERT_TRUE(SaveNewKeyRows(dir.path(), "d0", *rows).ok());
  StatusOr<NewKeyRows> loaded = LoadNewKeyRows(dir.path(), "d0", nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->keys(), rows->keys());
  EXPECT_EQ(loaded->values(), rows->values());
  EXPECT_EQ(loaded->KeyFingerprint(), rows->KeyFingerprint());
  // Loaded for lookups only: reading through is refused, not a crash.
  const uint64_t key = 1;
  float out[kDim];
  EXPECT_EQ(loaded->Fetch(&key, 1, out).code(), StatusCode::kFailedPrecondition);

  std::string blob = rows->Serialize();
  EXPECT_EQ(NewKeyRows::Parse(blob.substr(0, blob.size() - 3), nullptr).status().code(),
            StatusCode::kDataLoss);
  blob[0] ^= 0x11;
  EXPECT_EQ(NewKeyRows::Parse(blob, nullptr).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadNewKeyRows(dir.path(), "other", nullptr).status().code(), StatusCode::kNotFound);

  proto::NewKeyRowsSpec spec;
  spec.set_init("median");
  EXPECT_EQ(NewKeyRowsOptionsFor(spec).status().code(), StatusCode::kInvalidArgument);
}


// A small adapter of `input_dim` (the base's h or x) with a non-zero decoder,
// so that its path shows in the outputs and in dx.

// The input gradient against central differences of the loss, and the
// adapter's gradients against FineTuneStep's engine (same math, no dx).
TEST(WholeModelAdapterStepTest, InputGradientOnHMatchesFiniteDifferences) {
  const model::BaseModel base = SmallBase();
  model::IakModule adapter = SmallAdapter(base.config().h_dim(), /*plain=*/true);
  const int n = 3;
  std::vector<float> x = WavyInputs(base, n, 1.7f);
  const float click[n] = {1, 0, 1};
  model::WholeModelAdapterStep step;
  std::vector<float> grads(adapter.num_params()), dx(x.size()), unused(x.size());
  step.Run(base, adapter, /*adapter_on_x=*/false, model::IakPhase::kCompression, 0, x.data(), n,
           click, nullptr, nullptr, grads.data(), dx.data());
  std::vector<float> reference(adapter.num_params());
  model::CpuAdapterStepEngine engine(1);
  model::AdapterBatch in;
  in.n = n;
  in.x = x.data();
  in.click = click;
  ASSERT_TRUE(engine.Run(base, &adapter, model::IakPhase::kCompression, 0, in, nullptr).ok());
  for (size_t i = 0; i < grads.size(); ++i) {
    EXPECT_NEAR(grads[i], adapter.grads()[i], 1e-6f) << "adapter parameter " << i;
  }
  const float h = 1e-3f;
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<float> plus = x, minus = x;
    plus[i] += h;
    minus[i] -= h;
    const float up =
        step.Run(base, adapter, /*adapter_on_x=*/false, model::IakPhase::kCompression, 0,
                 plus.data(), n, click, nullptr, nullptr, grads.data(), unused.data())
            .loss;
    const float down =
        step.Run(base, adapter, /*adapter_on_x=*/false, model::IakPhase::kCompression, 0,
                 minus.data(), n, click, nullptr, nullptr, grads.data(), unused.data())
            .loss;
    EXPECT_NEAR(dx[i], (up - down) / (2 * h), 2e-3f) << "x[" << i << "]";
  }
}

// The adapter on x hands back the gradient w.r.t. x (its residual path
// included) for the rows below it: against central differences of the loss,
// and its own gradients unchanged by asking for dx.
TEST(WholeModelAdapterStepTest, InputGradientOnXMatchesFiniteDifferences) {
  const model::BaseModel base = SmallBase();
  const model::IakModule adapter = SmallAdapter(base.config().input_dim(), /*plain=*/true);
  const int n = 3;
  std::vector<float> x = WavyInputs(base, n, 1.7f);
  const float click[n] = {1, 0, 1};
  model::WholeModelAdapterStep step;
  std::vector<float> grads(adapter.num_params()), reference(adapter.num_params()), dx(x.size());
  step.Run(base, adapter, /*adapter_on_x=*/true, model::IakPhase::kCompression, 0, x.data(), n,
           click, nullptr, nullptr, grads.data(), dx.data());
  step.Run(base, adapter, /*adapter_on_x=*/true, model::IakPhase::kCompression, 0, x.data(), n,
           click, nullptr, nullptr, reference.data());
  EXPECT_EQ(grads, reference);
  const float h = 1e-3f;
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<float> plus = x, minus = x;
    plus[i] += h;
    minus[i] -= h;
    const float up = step.Run(base, adapter, /*adapter_on_x=*/true, model::IakPhase::kCompression,
                              0, plus.data(), n, click, nullptr, nullptr, grads.data())
                         .loss;
    const float down = step.Run(base, adapter, /*adapter_on_x=*/true, model::IakPhase::kCompression,
                                0, minus.data(), n, click, nullptr, nullptr, grads.data())
                           .loss;
    EXPECT_NEAR(dx[i], (up - down) / (2 * h), 2e-3f) << "x[" << i << "]";
  }
}

// Scoring through the whole model with the adapter on h is the cluster's
// scoring of that adapter (FineTuneStep::Predict), to the bit: same layers,
// same order.
TEST(WholeModelAdapterStepTest, PredictOnHIsFineTuneStepPredict) {
  const model::BaseModel base = SmallBase();
  const model::IakModule adapter = SmallAdapter(base.config().h_dim(), /*plain=*/false);
  const int n = 4;
  std::vector<float> x(static_cast<size_t>(n) * base.config().input_dim());
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.4f * std::sin(0.9f * static_cast<float>(i));
  std::vector<float> whole(n), reference(n), frozen(n);
  model::WholeModelAdapterStep step;
  step.Predict(base, adapter, /*adapter_on_x=*/false, x.data(), n, whole.data(), nullptr);
  model::FineTuneStep fine_tune;
  fine_tune.Predict(base, &adapter, x.data(), n, reference.data(), nullptr);
  fine_tune.Predict(base, nullptr, x.data(), n, frozen.data(), nullptr);
  EXPECT_EQ(whole, reference);
  EXPECT_NE(whole, frozen);
}

// An adapter with new-key rows (on h or on x): a few steps move the rows of
// new keys and never what a snapshot key reads; Params() and the optimizer
// state restore it exactly (the next step is bit for bit the same).
void CheckTrainsNewRowsOnlyAndRestoresExactly(AdapterInsertion insertion) {
  SCOPED_TRACE(AdapterInsertionName(insertion));
  const data::Dataset data = SmallData();
  const model::BaseModel base = SmallBase();
  MemoryRowSource frozen(Snapshot(), kDim);
  AdapterContext context;
  context.data = &data;
  context.base = &base;
  context.rows = &frozen;
  const model::IakConfig config = SmallAdapterConfig(
      insertion == AdapterInsertion::kX ? base.config().input_dim() : base.config().h_dim());
  auto make = [&]() {
    StatusOr<NewKeyRows> rows = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, {});
    EXPECT_TRUE(rows.ok());
    return std::make_unique<AdapterModel>(context, config, insertion, 5, std::move(*rows),
                                          NewKeyRowsOptions());
  };
  std::unique_ptr<AdapterModel> model = make();
  EXPECT_FALSE(model->wants_pooled_rows());
  EXPECT_EQ(model->prefix_cache_width(), 0);
  const std::vector<float> initial_rows = model->new_rows()->values();
  PreparedBatch batch;
  batch.ids = AllIds(data);
  batch.click = data.click;
  batch.eps.assign(batch.ids.size() * config.latent_dim, 0.1f);
  PhaseSettings phase;
  phase.learning_rate = 1e-2f;
  auto step = [&](AdapterModel* m) {
    ASSERT_TRUE(m->Gradients(batch, phase).ok());
    ASSERT_TRUE(m->Step(phase).ok());
  };
  for (int s = 0; s < 3; ++s) step(model.get());
  EXPECT_EQ(model->num_grads(), model->adapter().num_params() + 3 * kDim);
  EXPECT_NE(model->new_rows()->values(), initial_rows);  // new keys trained
  const uint64_t snapshot_keys[] = {1, 2, 3, 101, 102};
  std::vector<float> read(5 * kDim);
  ASSERT_TRUE(const_cast<NewKeyRows*>(model->new_rows())->Fetch(snapshot_keys, 5, read.data()).ok());
  std::unordered_map<uint64_t, std::vector<float>> snapshot = Snapshot();
  for (int k = 0; k < 5; ++k) {
    for (int j = 0; j < kDim; ++j) EXPECT_EQ(read[k * kDim + j], snapshot[snapshot_keys[k]][j]);
  }

  std::unique_ptr<AdapterModel> restored = make();
  ASSERT_TRUE(restored->SetParams(model->Params()).ok());
  ASSERT_TRUE(restored->SetOptimizerState(model->OptimizerState()).ok());
  step(model.get());
  step(restored.get());
  EXPECT_EQ(restored->Params(), model->Params());
  // A state of another key set is refused.
  NewKeyRowsOptions capped;
  capped.max_rows = 1;
  StatusOr<NewKeyRows> fewer = NewKeyRows::Find(data, AllIds(data), &frozen, kDim, capped);
  ASSERT_TRUE(fewer.ok());
  AdapterModel other(context, config, insertion, 5, std::move(*fewer), NewKeyRowsOptions());
  EXPECT_FALSE(other.SetOptimizerState(model->OptimizerState()).ok());
  EXPECT_FALSE(other.SetParams(model->Params()).ok());
}

TEST(AdapterWithNewKeyRowsTest, TrainsNewRowsOnlyAndRestoresExactlyOnH) {
  CheckTrainsNewRowsOnlyAndRestoresExactly(AdapterInsertion::kH);
}

TEST(AdapterWithNewKeyRowsTest, TrainsNewRowsOnlyAndRestoresExactlyOnX) {
  CheckTrainsNewRowsOnlyAndRestoresExactly(AdapterInsertion::kX);
}

}  // namespace
}  // namespace iak::worker
