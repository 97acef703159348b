#include "compare/method_comparison.h"

#include <cmath>
#include <filesystem>
#include <random>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "data/synth.h"
#include "model/embedding_table.h"
#include "model/adam.h"
#include "model/embedding_pooling.h"
#include "model/tower_adapter_step.h"
#include "model/metrics.h"
#include "model/whole_model_adapter_step.h"
#include "worker/pretrain_job.h"
#include "tests/model/grad_check.h"

namespace iak::compare {

using model::WholeModelAdapterStep;
using model::TowerAdapterStep;
using worker::JobData;
using worker::LoadJobData;
using worker::ParseAdapterInsertion;
namespace {

// Two domains: 0 pre-trains the base, 1 is fine-tuned. Click iff the movie is
// in the good half; in domain 1 the good half is shifted, and half of its
// users are new (absent from the snapshot).
JobData MakeJob() {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> user(0, 39), item(0, 39);
  JobData job;
  data::Dataset& d = job.dataset;
  d.fields = {{"user", false, data::Pooling::kSum}, {"movie", false, data::Pooling::kSum}};
  d.domain_names = {"early", "late"};
  for (int s = 0; s < 3000; ++s) {
    const int domain = s < 1500 ? 0 : 1;
    const int u = user(rng) + (domain == 1 && s % 2 == 0 ? 100 : 0);
    const int i = item(rng);
    d.keys.push_back(FeatureKey(0, u));
    d.offsets.push_back(d.keys.size());
    d.keys.push_back(FeatureKey(1, i));
    d.offsets.push_back(d.keys.size());
    const bool good = domain == 0 ? i < 20 : (i + 10) % 40 < 20;
    d.click.push_back(good ? 1.0f : 0.0f);
    d.domain.push_back(domain);
    d.timestamp.push_back(s);
  }
  job.splits = data::SplitByTime(d, 0.6, 0.2);
  job.pretrain_domains = {0};
  job.finetune_domains = {1};
  return job;
}

worker::PretrainedBase PretrainBase(const JobData& job) {
  worker::PretrainOptions o;
  o.epochs = 2;
  o.batch_size = 64;
  o.embedding_dim = 4;
  o.bottom_hidden = {8, 4};
  o.tower_hidden = {4};
  o.seed = 3;
  StatusOr<worker::PretrainedBase> trained =
      worker::PretrainOnSamples(job.dataset, job.splits[0].train, o, 1);
  CHECK(trained.ok()) << trained.status();
  return std::move(*trained);
}

struct Fixture {
  JobData job = MakeJob();
  worker::PretrainedBase base = PretrainBase(job);
};

ComparisonOptions SmallOptions(int epochs) {
  ComparisonOptions o;
  o.epochs = epochs;
  o.batch_size = 64;
  o.max_steps_per_epoch = 6;
  o.latent_dim = 2;
  o.adapter_hidden = {4};
  o.lora.rank = 2;
  o.seed = 9;
  return o;
}

const MethodDomainResult& Find(const MethodReport& report, const std::string& method) {
  for (const MethodDomainResult& r : report.results) {
    if (r.method == method) return r;
  }
  ADD_FAILURE() << "no result for " << method;
  return report.results.front();
}

// Untrained, every method is the base model: IAK's decoder and LoRA's B start
// at zero, and the fine-tuned copies start equal to the base.
TEST(MethodComparisonTest, UntrainedMethodsEqualTheFrozenBase) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  StatusOr<MethodReport> report = RunComparison(f.job, f.base.model, rows, SmallOptions(0));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->results.size(), AllMethods().size());
  const MethodDomainResult& frozen = Find(*report, "frozen");
  EXPECT_GT(frozen.test_auc, 0.0);
  for (const MethodDomainResult& r : report->results) {
    EXPECT_DOUBLE_EQ(r.test_auc, frozen.test_auc) << r.method;
    EXPECT_DOUBLE_EQ(r.validation_auc, frozen.validation_auc) << r.method;
  }
}

TEST(MethodComparisonTest, EveryMethodTrainsToFiniteAucsWithItsCost) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  StatusOr<MethodReport> report = RunComparison(f.job, f.base.model, rows, SmallOptions(3));
  ASSERT_TRUE(report.ok()) << report.status();
  for (const MethodDomainResult& r : report->results) {
    EXPECT_TRUE(std::isfinite(r.test_auc) && r.test_auc > 0 && r.test_auc < 1) << r.method;
    EXPECT_TRUE(std::isfinite(r.validation_auc)) << r.method;
    EXPECT_EQ(r.domain, "late");
    if (r.method == "frozen") {
      EXPECT_EQ(r.trainable_params, 0);
      EXPECT_EQ(r.checkpoint_bytes, 0);
    } else {
      EXPECT_GE(r.best_step, 0) << r.method;
      EXPECT_GT(r.trainable_params, 0) << r.method;
      // Values + two Adam moments (or row + accumulator) at least.
      EXPECT_GE(r.checkpoint_bytes, 3 * 4 * r.trainable_params * 2 / 3) << r.method;
    }
  }
  // Full fine-tuning trains the dense model and every touched row.
  EXPECT_GT(Find(*report, "full").trainable_params,
            static_cast<int64_t>(f.base.model.num_params()));
  EXPECT_EQ(Find(*report, "dense").trainable_params,
            static_cast<int64_t>(f.base.model.num_params()));
  EXPECT_LT(Find(*report, "iak").checkpoint_bytes, Find(*report, "full").checkpoint_bytes);
  // Fine-tuning on the shifted domain must beat the base trained on the old rule.
  EXPECT_GT(Find(*report, "dense").test_auc, Find(*report, "frozen").test_auc);
  const std::string json = report->ToJson();
  EXPECT_NE(json.find("\"method\": \"lora\""), std::string::npos);
  EXPECT_NE(report->ToMarkdown().find("| iak |"), std::string::npos);
}

// Hand-computed: labels click AND conversion = {0, 1, 0, 1, 0} (sample 2 is a
// click without conversion). Positive scores 0.4, 0.2; negatives 0.1, 0.3,
// 0.2. Pairs won: 0.4 beats all 3; 0.2 beats 0.1, ties 0.2 (1/2), loses to
// 0.3: (3 + 1.5) / 6 = 0.75.
TEST(MethodComparisonTest, CtcvrAucIsExactOnAHandComputedCase) {
  const std::vector<float> p_ctr{0.2f, 0.8f, 0.6f, 0.4f, 0.5f};
  const std::vector<float> p_cvr{0.5f, 0.5f, 0.5f, 0.5f, 0.4f};
  std::vector<float> p_ctcvr(5);
  for (int i = 0; i < 5; ++i) p_ctcvr[i] = p_ctr[i] * p_cvr[i];  // .1 .4 .3 .2 .2
  const std::vector<float> click{0, 1, 1, 1, 0}, conversion{0, 1, 0, 1, 0};
  StatusOr<double> auc = model::CtcvrAuc(p_ctcvr, click, conversion);
  ASSERT_TRUE(auc.ok()) << auc.status();
  EXPECT_DOUBLE_EQ(*auc, 0.75);
  EXPECT_FALSE(model::CtcvrAuc(p_ctcvr, click, std::vector<float>(5, 0.0f)).ok());  // one class
  EXPECT_FALSE(model::CtcvrAuc(p_ctcvr, click, {1.0f}).ok());
}

// Skewed synthetic data (iak data synth, skew 2): d00 pre-trains a two-task
// base; d01 (~2800 training samples), d02 (~1250) and d03 (~700) fine-tune.
JobData MakeSynthJob() {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/iak_mr_synth_" +
                          std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  data::SynthOptions s;
  s.out = dir + "/synth.csv";
  s.samples = 20000;
  s.keys = 600;
  s.domains = 4;
  s.seed = 5;
  s.domain_size_skew = 2.0;
  CHECK(data::WriteSynthData(s).ok());
  proto::DataSpec spec;
  spec.set_schema_file("examples/synth.schema.pbtxt");
  spec.add_input_files(s.out);
  spec.set_pretrain_periods(1);
  spec.set_train_fraction(0.8);
  spec.set_validation_fraction(0.1);
  StatusOr<JobData> loaded = LoadJobData(spec);
  CHECK(loaded.ok()) << loaded.status();
  std::filesystem::remove_all(dir);
  return std::move(*loaded);
}

worker::PretrainedBase PretrainSynth(const JobData& job) {
  worker::PretrainOptions o;
  o.epochs = 1;
  o.batch_size = 128;
  o.embedding_dim = 4;
  o.bottom_hidden = {8, 4};
  o.tower_hidden = {4};
  o.seed = 3;
  StatusOr<worker::PretrainedBase> trained =
      worker::PretrainOnSamples(job.dataset, job.splits[0].train, o, 2);
  CHECK(trained.ok()) << trained.status();
  return std::move(*trained);
}

struct SynthFixture {
  JobData job = MakeSynthJob();
  worker::PretrainedBase base = PretrainSynth(job);
};

const MethodDomainResult& FindIn(const MethodReport& report, const std::string& method,
                                 const std::string& domain) {
  for (const MethodDomainResult& r : report.results) {
    if (r.method == method && r.domain == domain) return r;
  }
  ADD_FAILURE() << "no result for " << method << " on " << domain;
  return report.results.front();
}

bool SameAuc(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

TEST(MethodComparisonTest, ColdDomainsFallBackAndCtcvrIsReported) {
  SynthFixture f;
  ASSERT_EQ(f.job.finetune_domains.size(), 3u);
  model::TableLookup rows(&f.base.table);
  ComparisonOptions o = SmallOptions(2);
  o.methods = {Method::kFrozen, Method::kFull, Method::kIak, Method::kPlain};
  o.plan.min_train_samples = 1000;  // d03 (~700) is cold, alone too small: base model
  o.plan.min_validation_positives = 3;
  StatusOr<MethodReport> report = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->has_ctcvr);
  const MethodDomainResult& cold = FindIn(*report, "iak", "d03");
  EXPECT_EQ(cold.mode, "base");
  EXPECT_EQ(cold.batch_size, 0);
  EXPECT_EQ(cold.checkpoint_bytes, 0);
  EXPECT_EQ(cold.network_bytes(), 0);
  EXPECT_TRUE(SameAuc(cold.test_auc, FindIn(*report, "frozen", "d03").test_auc));
  EXPECT_TRUE(SameAuc(cold.test_ctcvr_auc, FindIn(*report, "frozen", "d03").test_ctcvr_auc));
  EXPECT_EQ(FindIn(*report, "full", "d03").mode, "own");  // only adapters fall back
  // Dynamic batches: median of the warm domains' counts; the bigger one keeps B.
  const MethodDomainResult& big = FindIn(*report, "iak", "d01");
  const MethodDomainResult& mid = FindIn(*report, "iak", "d02");
  EXPECT_EQ(big.batch_size, o.batch_size);
  const int expected = static_cast<int>(std::lround(
      o.batch_size * std::sqrt(static_cast<double>(mid.train_samples) /
                               (0.5 * (mid.train_samples + big.train_samples)))));
  EXPECT_EQ(mid.batch_size, std::max(expected, 32));
  EXPECT_LT(mid.batch_size, o.batch_size);
  EXPECT_NEAR(mid.lr, o.adapter_lr * std::sqrt(mid.batch_size / 64.0), 1e-9);
  for (const MethodDomainResult& r : report->results) {
    if (r.domain == "d03") continue;
    EXPECT_TRUE(r.test_ctcvr_auc > 0 && r.test_ctcvr_auc < 1) << r.method << " " << r.domain;
  }
  // Computed network bytes: full FT pulls and pushes rows; IAK only pulls and
  // all-reduces its adapter.
  const MethodDomainResult& full = FindIn(*report, "full", "d01");
  EXPECT_GT(full.pull_bytes, 0);
  EXPECT_EQ(full.push_bytes, full.pull_bytes);
  EXPECT_EQ(big.push_bytes, 0);
  EXPECT_GT(big.allreduce_bytes, 0);
  EXPECT_LT(big.allreduce_bytes, full.allreduce_bytes);
  const std::string md = report->ToMarkdown();
  EXPECT_NE(md.find("Test CTCVR-AUC per domain"), std::string::npos);
  EXPECT_NE(md.find("network / epoch (computed, N=2)"), std::string::npos);
  EXPECT_NE(md.find("- domain d03: " + std::to_string(cold.train_samples) +
                    " training samples < 1000: base model"),
            std::string::npos)
      << md;
  EXPECT_NE(report->ToJson().find("\"adapter\": \"base\""), std::string::npos);

  // A higher threshold makes d02 cold too: together they reach it and share one adapter.
  o.methods = {Method::kFrozen, Method::kIak};
  o.plan.min_train_samples = 1300;
  report = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(report.ok()) << report.status();
  const MethodDomainResult& s2 = FindIn(*report, "iak", "d02");
  const MethodDomainResult& s3 = FindIn(*report, "iak", "d03");
  EXPECT_EQ(s2.mode, "shared");
  EXPECT_EQ(s3.mode, "shared");
  EXPECT_EQ(s2.batch_size, s3.batch_size);
  EXPECT_DOUBLE_EQ(s2.validation_auc, s3.validation_auc);  // pooled validation
  EXPECT_GT(s2.checkpoint_bytes, 0);
}

// With the frozen-prefix cache the adapters pull rows in their first epoch
// only, so the computed pull bytes per epoch drop by the number of epochs.
TEST(MethodComparisonTest, PrefixCacheAdaptersPullOnlyInTheFirstEpoch) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  ComparisonOptions o = SmallOptions(3);
  o.methods = {Method::kIak};
  o.max_steps_per_epoch = 0;  // whole epochs: every epoch pulls the same keys
  o.prefix_cache = false;
  StatusOr<MethodReport> off = RunComparison(f.job, f.base.model, rows, o);
  o.prefix_cache = true;
  StatusOr<MethodReport> on = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(off.ok() && on.ok());
  const MethodDomainResult& a = off->results[0];
  const MethodDomainResult& b = on->results[0];
  EXPECT_GT(a.pull_bytes, 0);
  EXPECT_NEAR(static_cast<double>(b.pull_bytes), a.pull_bytes / 3.0, a.pull_bytes * 0.15);
  EXPECT_EQ(a.allreduce_bytes, b.allreduce_bytes);
  // The cache is exact: the same training, the same scores. (The shifted
  // late domain leaves this toy's adapter near AUC 0.5 either way.)
  EXPECT_GT(b.test_auc, 0.0);
  EXPECT_DOUBLE_EQ(a.test_auc, b.test_auc);
}

TEST(MethodComparisonTest, BadOptionsAndUnknownMethodsAreRefused) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  ComparisonOptions o = SmallOptions(1);
  o.batch_size = 0;
  EXPECT_FALSE(RunComparison(f.job, f.base.model, rows, o).ok());
  o = SmallOptions(1);
  for (double share : {-1.0, 1.5, std::nan("")}) {
    o.compression_fraction = share;
    StatusOr<MethodReport> refused = RunComparison(f.job, f.base.model, rows, o);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << share;
    EXPECT_NE(refused.status().message().find("compression_fraction"), std::string::npos);
  }
  o = SmallOptions(1);
  o.plan.min_batch = 0;
  StatusOr<MethodReport> refused = RunComparison(f.job, f.base.model, rows, o);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("--compare_min_batch"), std::string::npos);
  EXPECT_FALSE(ParseMethod("adapterfusion").ok());
  StatusOr<Method> lora = ParseMethod("lora");
  ASSERT_TRUE(lora.ok());
  EXPECT_EQ(*lora, Method::kLora);
}

// --- Adapter insertion on the pooled input x (--compare_iak_insertion=x) ---

// A tiny two-task base and an adapter on its input, with every parameter
// random (an initialised adapter's zero decoder would hide the encoder's
// gradients).
struct TinyXSetup {
  model::BaseModel base{TinyBaseConfig()};
  model::IakModule adapter{TinyAdapterConfig(false)};
  static model::BaseModelConfig TinyBaseConfig() {
    model::BaseModelConfig c;
    c.embedding_dim = 3;
    c.num_fields = 2;
    c.bottom_hidden = {5, 4};
    c.tower_hidden = {3};
    c.num_tasks = 2;
    return c;
  }
  static model::IakConfig TinyAdapterConfig(bool plain) {
    model::IakConfig c;
    c.input_dim = 6;
    c.latent_dim = 2;
    c.encoder_hidden = {4};
    c.decoder_hidden = {4};
    c.plain_adapter = plain;
    return c;
  }
  explicit TinyXSetup(bool plain) : adapter(TinyAdapterConfig(plain)) {
    base.Init(11);
    std::mt19937_64 rng(5);
    const std::vector<float> p =
        model::testing::RandomVector(adapter.num_params(), &rng, 0.5f);
    std::copy(p.begin(), p.end(), adapter.mutable_params());
  }
};

void CheckInputAdapterGradients(bool plain) {
  TinyXSetup t(plain);
  const int batch = 5;
  std::mt19937_64 rng(21);
  const std::vector<float> x = model::testing::RandomVector(batch * 6, &rng);
  std::vector<float> eps(batch * 2);
  model::IakModule::DrawEps(batch, 2, &rng, eps.data());
  const std::vector<float> click{1, 0, 1, 1, 0}, conversion{1, 0, 0, 1, 0};
  const float beta = 0.3f;
  WholeModelAdapterStep step;
  std::vector<float> grads(t.adapter.num_params(), 123.0f);  // overwritten
  const model::StepStats stats =
      step.Run(t.base, t.adapter, /*adapter_on_x=*/true, model::IakPhase::kCompression, beta,
               x.data(), batch, click.data(), conversion.data(), eps.data(), grads.data());
  EXPECT_TRUE(std::isfinite(stats.loss));
  if (plain) {
    EXPECT_EQ(stats.kl, 0.0f);
  } else {
    EXPECT_GT(stats.kl, 0.0f);
  }
  std::vector<float> scratch(grads.size());
  auto loss = [&] {
    WholeModelAdapterStep s;
    return static_cast<double>(s.Run(t.base, t.adapter, /*adapter_on_x=*/true,
                                     model::IakPhase::kCompression, beta, x.data(), batch,
                                     click.data(), conversion.data(), eps.data(), scratch.data())
                                   .loss);
  };
  model::testing::CheckAllGrads(loss, t.adapter.mutable_params(), grads.data(), grads.size(),
                                plain ? "plain adapter on x" : "iak on x");
  // Some gradient reaches both the encoder and the decoder through the bottom.
  double enc = 0, dec = 0;
  const model::ParamRange e = t.adapter.encoder_param_range();
  for (size_t i = e.begin; i < e.end; ++i) enc += std::abs(grads[i]);
  const model::ParamRange d = t.adapter.decoder_param_range();
  for (size_t i = d.begin; i < d.end; ++i) dec += std::abs(grads[i]);
  EXPECT_GT(enc, 1e-4);
  EXPECT_GT(dec, 1e-4);
}

TEST(MethodComparisonTest, InputAdapterGradientsMatchFiniteDifferences) {
  CheckInputAdapterGradients(/*plain=*/false);
  CheckInputAdapterGradients(/*plain=*/true);
}

// Adam on the adapter-on-x of a real pre-trained base, on a fixed batch of the
// shifted domain: the loss must fall.
TEST(MethodComparisonTest, InputAdapterTrainingLowersTheLoss) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  const model::BaseModel& base = f.base.model;
  model::IakConfig c;
  c.input_dim = base.config().input_dim();
  c.latent_dim = 4;
  c.encoder_hidden = {8};
  c.decoder_hidden = {8};
  model::IakModule adapter(c);
  adapter.Init(3);
  const data::SampleIds& train = f.job.splits[1].train;
  const int batch = 128;
  std::vector<float> x(static_cast<size_t>(batch) * c.input_dim), click(batch);
  model::PoolBatch(f.job.dataset, train.data(), batch, base.config().embedding_dim, rows,
                   x.data());
  for (int r = 0; r < batch; ++r) click[r] = f.job.dataset.click[train[r]];
  model::AdamOptions ao;
  ao.lr = 1e-2f;
  model::Adam adam(adapter.num_params(), ao);
  WholeModelAdapterStep step;
  std::mt19937_64 rng(4);
  std::vector<float> eps(static_cast<size_t>(batch) * c.latent_dim);
  std::vector<float> grads(adapter.num_params());
  float first = 0, last = 0;
  for (int s = 0; s < 300; ++s) {
    model::IakModule::DrawEps(batch, c.latent_dim, &rng, eps.data());
    const model::StepStats st =
        step.Run(base, adapter, /*adapter_on_x=*/true, model::IakPhase::kCompression, 1e-3f,
                 x.data(), batch, click.data(), nullptr, eps.data(), grads.data());
    if (s == 0) first = st.task_loss;
    last = st.task_loss;
    adam.Step(adapter.mutable_params(), grads.data());
  }
  EXPECT_LT(last, 0.9f * first) << "first " << first << ", last " << last;
}

// Through RunMethods: untrained, the x insertion is the base model (zero
// decoder); trained, its adapter is sized on x; the cache of pooled x is exact
// (same AUCs with and without it); the default stays on h.
TEST(MethodComparisonTest, IakOnXRunsThroughTheComparison) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  EXPECT_EQ(ComparisonOptions().iak_insertion, AdapterInsertion::kH);
  ComparisonOptions o = SmallOptions(0);
  o.methods = {Method::kFrozen, Method::kIak};
  o.iak_insertion = AdapterInsertion::kX;
  StatusOr<MethodReport> untrained = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(untrained.ok()) << untrained.status();
  EXPECT_DOUBLE_EQ(Find(*untrained, "iak").test_auc, Find(*untrained, "frozen").test_auc);

  o = SmallOptions(3);
  o.methods = {Method::kIak};
  o.max_steps_per_epoch = 0;
  StatusOr<MethodReport> on_h = RunComparison(f.job, f.base.model, rows, o);
  o.iak_insertion = AdapterInsertion::kX;
  StatusOr<MethodReport> cached = RunComparison(f.job, f.base.model, rows, o);
  o.prefix_cache = false;
  StatusOr<MethodReport> uncached = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(on_h.ok() && cached.ok() && uncached.ok());
  const MethodDomainResult& h = on_h->results[0];
  const MethodDomainResult& a = cached->results[0];
  const MethodDomainResult& b = uncached->results[0];
  // The adapter is sized on x (2 fields x dim 4 = 8 inputs), not on h (4).
  model::IakConfig on_x;
  on_x.input_dim = f.base.model.config().input_dim();
  on_x.latent_dim = o.latent_dim;
  on_x.encoder_hidden = on_x.decoder_hidden = o.adapter_hidden;
  EXPECT_EQ(a.trainable_params, static_cast<int64_t>(model::IakModule(on_x).num_params()));
  EXPECT_NE(a.trainable_params, h.trainable_params);
  EXPECT_DOUBLE_EQ(a.test_auc, b.test_auc);
  EXPECT_DOUBLE_EQ(a.validation_auc, b.validation_auc);
  EXPECT_NEAR(static_cast<double>(a.pull_bytes), b.pull_bytes / 3.0, b.pull_bytes * 0.15);
  EXPECT_TRUE(a.test_auc > 0 && a.test_auc < 1);
  EXPECT_GE(a.best_step, 0);
}

TEST(MethodComparisonTest, AdapterInsertionNamesParse) {
  StatusOr<AdapterInsertion> x = ParseAdapterInsertion("x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(*x, AdapterInsertion::kX);
  EXPECT_STREQ(AdapterInsertionName(AdapterInsertion::kH), "h");
  const StatusOr<AdapterInsertion> tower = ParseAdapterInsertion("tower");
  ASSERT_TRUE(tower.ok());
  EXPECT_EQ(*tower, AdapterInsertion::kTower);
  EXPECT_FALSE(ParseAdapterInsertion("z").ok());
}

// --- Adapter on the CTR tower's hidden layer (--compare_iak_insertion=tower) ---

void CheckTowerAdapterGradients(bool plain) {
  const model::BaseModelConfig bc = TinyXSetup::TinyBaseConfig();  // towers: 4 -> 3 -> 1, 2 tasks
  model::BaseModel base(bc);
  base.Init(13);
  model::IakConfig ac = TinyXSetup::TinyAdapterConfig(plain);
  ac.input_dim = bc.tower_hidden.front();
  model::IakModule adapter(ac);
  std::mt19937_64 rng(6);
  const std::vector<float> p = model::testing::RandomVector(adapter.num_params(), &rng, 0.5f);
  std::copy(p.begin(), p.end(), adapter.mutable_params());
  const int batch = 5;
  const std::vector<float> h = model::testing::RandomVector(batch * bc.h_dim(), &rng);
  std::vector<float> eps(batch * ac.latent_dim);
  model::IakModule::DrawEps(batch, ac.latent_dim, &rng, eps.data());
  const std::vector<float> click{1, 0, 1, 1, 0}, conversion{1, 0, 0, 1, 0};
  const float beta = 0.3f;
  TowerAdapterStep step;
  std::vector<float> grads(adapter.num_params(), 123.0f);
  step.Run(base, adapter, model::IakPhase::kCompression, beta, h.data(), batch, click.data(),
           conversion.data(), eps.data(), grads.data());
  std::vector<float> scratch(grads.size());
  auto loss = [&] {
    TowerAdapterStep s;
    return static_cast<double>(s.Run(base, adapter, model::IakPhase::kCompression, beta,
                                     h.data(), batch, click.data(), conversion.data(),
                                     eps.data(), scratch.data())
                                   .loss);
  };
  model::testing::CheckAllGrads(loss, adapter.mutable_params(), grads.data(), grads.size(),
                                plain ? "plain adapter on the tower" : "iak on the tower");
  double sum = 0;
  for (float g : grads) sum += std::abs(g);
  EXPECT_GT(sum, 1e-3);
}

TEST(MethodComparisonTest, TowerAdapterGradientsMatchFiniteDifferences) {
  CheckTowerAdapterGradients(/*plain=*/false);
  CheckTowerAdapterGradients(/*plain=*/true);
}

// With a zero decoder the split tower is the base's tower: same logits as
// BaseModel::ForwardTowers, on both tasks.
TEST(MethodComparisonTest, UntrainedTowerAdapterEqualsTheBaseTowers) {
  const model::BaseModelConfig bc = TinyXSetup::TinyBaseConfig();
  model::BaseModel base(bc);
  base.Init(13);
  model::IakConfig ac = TinyXSetup::TinyAdapterConfig(false);
  ac.input_dim = bc.tower_hidden.front();
  model::IakModule adapter(ac);
  adapter.Init(2);
  std::mt19937_64 rng(8);
  const int batch = 7;
  const std::vector<float> h = model::testing::RandomVector(batch * bc.h_dim(), &rng);
  std::vector<float> logits(batch * 2), p(batch), q(batch);
  model::BaseModelWorkspace ws;
  base.ForwardTowers(h.data(), batch, logits.data(), &ws);
  TowerAdapterStep step;
  step.Predict(base, adapter, h.data(), batch, p.data(), q.data());
  for (int r = 0; r < batch; ++r) {
    const float ctr = 1.0f / (1.0f + std::exp(-logits[2 * r]));
    const float cvr = 1.0f / (1.0f + std::exp(-logits[2 * r + 1]));
    EXPECT_NEAR(p[r], ctr, 1e-6f) << r;
    EXPECT_NEAR(q[r], ctr * cvr, 1e-6f) << r;
  }
}

TEST(MethodComparisonTest, IakOnTheTowerRunsThroughTheComparison) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  ComparisonOptions o = SmallOptions(0);
  o.methods = {Method::kFrozen, Method::kIak};
  o.iak_insertion = AdapterInsertion::kTower;
  StatusOr<MethodReport> untrained = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(untrained.ok()) << untrained.status();
  EXPECT_NEAR(Find(*untrained, "iak").test_auc, Find(*untrained, "frozen").test_auc, 1e-9);

  o = SmallOptions(3);
  o.methods = {Method::kIak};
  o.max_steps_per_epoch = 0;
  o.iak_insertion = AdapterInsertion::kTower;
  StatusOr<MethodReport> cached = RunComparison(f.job, f.base.model, rows, o);
  o.prefix_cache = false;
  StatusOr<MethodReport> uncached = RunComparison(f.job, f.base.model, rows, o);
  ASSERT_TRUE(cached.ok() && uncached.ok());
  const MethodDomainResult& a = cached->results[0];
  const MethodDomainResult& b = uncached->results[0];
  model::IakConfig on_tower;
  on_tower.input_dim = f.base.model.config().tower_hidden.front();
  on_tower.latent_dim = o.latent_dim;
  on_tower.encoder_hidden = on_tower.decoder_hidden = o.adapter_hidden;
  EXPECT_EQ(a.trainable_params, static_cast<int64_t>(model::IakModule(on_tower).num_params()));
  EXPECT_DOUBLE_EQ(a.test_auc, b.test_auc);  // the cache of h is exact
  EXPECT_TRUE(a.test_auc > 0 && a.test_auc < 1);

  // A base whose towers have no hidden layer is refused with a clear error.
  model::BaseModelConfig flat = f.base.model.config();
  flat.tower_hidden.clear();
  model::BaseModel no_hidden(flat);
  no_hidden.Init(1);
  const StatusOr<MethodReport> refused = RunComparison(f.job, no_hidden, rows, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("hidden layer"), std::string::npos);
}

}  // namespace
}  // namespace iak::compare
