#include "worker/domain_predictor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "model/embedding_table.h"

namespace iak::worker {
namespace {

model::BaseModel MakeBase(int tasks) {
  model::BaseModelConfig c;
  c.embedding_dim = 4;
  c.num_fields = 2;
  c.bottom_hidden = {16, 8};
  c.tower_hidden = {6};
  c.num_tasks = tasks;
  model::BaseModel base(c);
  base.Init(11);
  return base;
}

model::IakModule MakeAdapter(uint64_t seed) {
  model::IakConfig c;
  c.input_dim = 8;
  c.latent_dim = 3;
  c.encoder_hidden = {8};
  c.decoder_hidden = {8};
  model::IakModule m(c);
  m.Init(seed);
  // A trained-looking decoder: the zero-initialised last layer made non-zero.
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  for (size_t i = m.decoder_param_range().begin; i < m.num_params(); ++i) {
    m.mutable_params()[i] += noise(rng);
  }
  return m;
}

struct Batch {
  std::vector<float> x;
  std::vector<int32_t> domain;
};

Batch MakeBatch(int n, int input_dim, int domains, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Batch b;
  for (int i = 0; i < n * input_dim; ++i) b.x.push_back(g(rng));
  for (int i = 0; i < n; ++i) b.domain.push_back(static_cast<int32_t>(rng() % domains));
  return b;
}

// Mixed-batch and per-domain scoring do the same arithmetic per row, but the
// BLAS kernels may round differently for different row counts (the bottom and
// towers see the whole batch in one, a domain's rows in the other): at the W2
// shape `iak bench predict` measures a difference of about 1.8e-7. So exact
// equality is asserted where the shapes are the same (a one-domain batch), and
// agreement to 1e-6 for a mixed batch.
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << "row " << i;
}

TEST(DomainPredictorTest, OneDomainBatchEqualsPerDomainScoringExactly) {
  model::BaseModel base = MakeBase(2);
  model::IakModule a0 = MakeAdapter(1), a1 = MakeAdapter(2);
  StatusOr<DomainPredictor> p = DomainPredictor::Create(&base, {&a0, &a1});
  ASSERT_TRUE(p.ok());
  const int n = 300;
  Batch b = MakeBatch(n, base.config().input_dim(), 1, 4);
  for (int32_t& d : b.domain) d = 1;
  std::vector<float> m1(n), m2(n), q1(n), q2(n);
  ASSERT_TRUE(p->ScoreMixed(b.x.data(), b.domain.data(), n, m1.data(), m2.data()).ok());
  ASSERT_TRUE(p->ScorePerDomain(b.x.data(), b.domain.data(), n, q1.data(), q2.data()).ok());
  EXPECT_EQ(m1, q1);
  EXPECT_EQ(m2, q2);
}

TEST(DomainPredictorTest, MixedBatchEqualsPerDomainScoring) {
  for (int tasks : {1, 2}) {
    model::BaseModel base = MakeBase(tasks);
    model::IakModule a0 = MakeAdapter(1), a2 = MakeAdapter(2), a3 = MakeAdapter(3);
    // Domain 1 has no adapter: scored by the frozen base.
    StatusOr<DomainPredictor> p = DomainPredictor::Create(&base, {&a0, nullptr, &a2, &a3});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    const int n = 257;
    Batch b = MakeBatch(n, base.config().input_dim(), 4, 5 + tasks);
    std::vector<float> mixed(n), mixed2(n), per(n), per2(n);
    float* m2 = tasks == 2 ? mixed2.data() : nullptr;
    float* q2 = tasks == 2 ? per2.data() : nullptr;
    ASSERT_TRUE(p->ScoreMixed(b.x.data(), b.domain.data(), n, mixed.data(), m2).ok());
    ASSERT_TRUE(p->ScorePerDomain(b.x.data(), b.domain.data(), n, per.data(), q2).ok());
    ExpectClose(mixed, per);
    if (tasks == 2) ExpectClose(mixed2, per2);

    // Each row went through its own domain's adapter: agrees with scoring the
    // row alone with that adapter (to rounding), and differs from the base
    // model for domains that have an adapter.
    model::FineTuneStep step;
    const model::IakModule* by_domain[] = {&a0, nullptr, &a2, &a3};
    int changed = 0;
    for (int r = 0; r < n; ++r) {
      const float* xr = b.x.data() + static_cast<size_t>(r) * base.config().input_dim();
      float own = 0, plain = 0;
      step.Predict(base, by_domain[b.domain[r]], xr, 1, &own, nullptr);
      step.Predict(base, nullptr, xr, 1, &plain, nullptr);
      EXPECT_NEAR(mixed[r], own, 1e-6) << "row " << r;
      if (b.domain[r] == 1) {
        EXPECT_NEAR(mixed[r], plain, 1e-6);
      }
      if (b.domain[r] != 1 && std::abs(own - plain) > 1e-4) ++changed;
    }
    EXPECT_GT(changed, n / 2);
  }
}

TEST(DomainPredictorTest, AdaptersOnXMapThePooledInputBeforeTheBottom) {
  // x 12 wide (3 fields of dim 4), h 8 wide: an adapter fits one or the other.
  model::BaseModelConfig c;
  c.embedding_dim = 4;
  c.num_fields = 3;
  c.bottom_hidden = {16, 8};
  c.tower_hidden = {6};
  c.num_tasks = 2;
  model::BaseModel base(c);
  base.Init(12);
  model::IakConfig on_x;
  on_x.input_dim = 12;
  on_x.latent_dim = 3;
  on_x.encoder_hidden = {8};
  on_x.decoder_hidden = {8};
  model::IakModule a0(on_x), a2(on_x);
  a0.Init(1);
  a2.Init(2);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  for (model::IakModule* a : {&a0, &a2}) {
    for (size_t i = a->decoder_param_range().begin; i < a->num_params(); ++i) {
      a->mutable_params()[i] += noise(rng);
    }
  }
  model::IakModule on_h = MakeAdapter(4);  // 8 wide: h's width, not x's
  EXPECT_EQ(DomainPredictor::Create(&base, {&on_h}, /*adapters_on_x=*/true).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DomainPredictor::Create(&base, {&a0}).status().code(), StatusCode::kInvalidArgument);

  StatusOr<DomainPredictor> p = DomainPredictor::Create(&base, {&a0, nullptr, &a2}, true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const int n = 200;
  Batch b = MakeBatch(n, 12, 3, 9);
  std::vector<float> mixed(n), mixed2(n), per(n), per2(n);
  ASSERT_TRUE(p->ScoreMixed(b.x.data(), b.domain.data(), n, mixed.data(), mixed2.data()).ok());
  ASSERT_TRUE(p->ScorePerDomain(b.x.data(), b.domain.data(), n, per.data(), per2.data()).ok());
  ExpectClose(mixed, per);
  ExpectClose(mixed2, per2);
  // The reference, one row at a time: x' = adapter(x), then the base alone.
  const model::IakModule* by_domain[] = {&a0, nullptr, &a2};
  model::FineTuneStep step;
  model::IakWorkspace ws;
  int changed = 0;
  for (int r = 0; r < n; ++r) {
    std::vector<float> xr(b.x.begin() + r * 12, b.x.begin() + (r + 1) * 12), adapted(12);
    const model::IakModule* a = by_domain[b.domain[r]];
    if (a != nullptr) a->Infer(xr.data(), 1, adapted.data(), &ws);
    float own = 0, own2 = 0, plain = 0;
    step.Predict(base, nullptr, a != nullptr ? adapted.data() : xr.data(), 1, &own, &own2);
    step.Predict(base, nullptr, xr.data(), 1, &plain, nullptr);
    EXPECT_NEAR(mixed[r], own, 1e-6) << "row " << r;
    EXPECT_NEAR(mixed2[r], own2, 1e-6) << "row " << r;
    if (a != nullptr && std::abs(own - plain) > 1e-4) ++changed;
  }
  EXPECT_GT(changed, n / 3);
}

TEST(DomainPredictorTest, RefusesOutOfRangeDomainsAndMismatchedAdapters) {
  model::BaseModel base = MakeBase(1);
  model::IakModule a = MakeAdapter(1);
  StatusOr<DomainPredictor> p = DomainPredictor::Create(&base, {&a});
  ASSERT_TRUE(p.ok());
  Batch b = MakeBatch(4, base.config().input_dim(), 1, 3);
  b.domain[2] = 7;
  std::vector<float> out(4);
  Status s = p->ScoreMixed(b.x.data(), b.domain.data(), 4, out.data(), nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("row 2"), std::string::npos) << s.message();

  model::IakConfig wide;
  wide.input_dim = 9;
  model::IakModule bad(wide);
  EXPECT_EQ(DomainPredictor::Create(&base, {&bad}).status().code(), StatusCode::kInvalidArgument);
}

// A dense-family job's predictor: each domain's rows through its own model
// (the base where it has none), exactly as that model scores them alone;
// a model of another shape is refused.
TEST(DomainPredictorTest, DenseModelsScoreTheirDomainsRows) {
  model::BaseModel base = MakeBase(2);
  model::BaseModel tuned = MakeBase(2);
  tuned.Init(23);
  StatusOr<DomainPredictor> p = DomainPredictor::CreateForDenseModels(&base, {nullptr, &tuned});
  ASSERT_TRUE(p.ok()) << p.status();
  const int n = 6;
  Batch b = MakeBatch(n, base.config().input_dim(), 2, 5);
  std::vector<float> ctr(n), ctcvr(n);
  ASSERT_TRUE(p->ScoreMixed(b.x.data(), b.domain.data(), n, ctr.data(), ctcvr.data()).ok());
  model::FineTuneStep step;
  for (int r = 0; r < n; ++r) {
    const model::BaseModel& m = b.domain[r] == 1 ? tuned : base;
    float one_ctr = 0, one_ctcvr = 0;
    step.Predict(m, nullptr, b.x.data() + r * base.config().input_dim(), 1, &one_ctr, &one_ctcvr);
    EXPECT_NEAR(ctr[r], one_ctr, 1e-6) << "row " << r;  // BLAS rounding by row count
    EXPECT_NEAR(ctcvr[r], one_ctcvr, 1e-6) << "row " << r;
  }
  EXPECT_NE(std::count(b.domain.begin(), b.domain.end(), 1), 0);

  model::BaseModel other = MakeBase(1);
  EXPECT_EQ(DomainPredictor::CreateForDenseModels(&base, {&other}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(DomainPredictorTest, PredictSamplesMixedAndPerDomainAgreeOverBatches) {
  model::BaseModel base = MakeBase(1);
  model::IakModule a0 = MakeAdapter(4), a1 = MakeAdapter(5);
  data::Dataset ds;
  ds.fields = {{"user"}, {"item"}};
  ds.domain_names = {"a", "b"};
  model::EmbeddingTable table;
  std::mt19937_64 rng(9);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (uint64_t k = 0; k < 50; ++k) {
    std::vector<float> row(4);
    for (float& v : row) v = g(rng);
    table[k] = row;
  }
  data::SampleIds ids;
  for (uint32_t s = 0; s < 300; ++s) {
    ds.keys.push_back(rng() % 50);
    ds.offsets.push_back(ds.keys.size());
    ds.keys.push_back(rng() % 60);  // some keys absent: zero rows
    ds.offsets.push_back(ds.keys.size());
    ds.click.push_back(s % 2);
    ds.domain.push_back(static_cast<int32_t>(rng() % 2));
    ds.timestamp.push_back(s);
    ids.push_back(s);
  }
  model::TableLookup rows(&table);
  StatusOr<DomainPredictor> p = DomainPredictor::Create(&base, {&a0, &a1});
  ASSERT_TRUE(p.ok());
  std::vector<float> mixed(ids.size()), per(ids.size());
  PredictOptions options;
  options.batch_size = 64;
  ASSERT_TRUE(PredictSamples(ds, ids, rows, options, &*p, mixed.data(), nullptr).ok());
  options.mixed = false;
  ASSERT_TRUE(PredictSamples(ds, ids, rows, options, &*p, per.data(), nullptr).ok());
  ExpectClose(mixed, per);
  // Not trivially equal: the two domains' adapters give different scores.
  std::vector<float> base_only(ids.size());
  StatusOr<DomainPredictor> plain = DomainPredictor::Create(&base, {nullptr, nullptr});
  ASSERT_TRUE(plain.ok());
  options.mixed = true;
  ASSERT_TRUE(PredictSamples(ds, ids, rows, options, &*plain, base_only.data(), nullptr).ok());
  EXPECT_NE(mixed, base_only);
  options.batch_size = 0;
  EXPECT_FALSE(PredictSamples(ds, ids, rows, options, &*p, per.data(), nullptr).ok());
}

}  // namespace
}  // namespace iak::worker
