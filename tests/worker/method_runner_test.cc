#include "worker/method_runner.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "model/embedding_table.h"
#include "model/pretrainer.h"

namespace iak::worker {
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

model::PretrainResult PretrainBase(const JobData& job) {
  model::PretrainOptions o;
  o.epochs = 2;
  o.batch_size = 64;
  o.embedding_dim = 4;
  o.bottom_hidden = {8, 4};
  o.tower_hidden = {4};
  o.seed = 3;
  StatusOr<model::PretrainResult> trained = model::Pretrain(job.dataset, job.splits[0].train, o);
  CHECK(trained.ok()) << trained.status();
  return std::move(*trained);
}

struct Fixture {
  JobData job = MakeJob();
  model::PretrainResult base = PretrainBase(job);
};

MethodRunnerOptions SmallOptions(int epochs) {
  MethodRunnerOptions o;
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
TEST(MethodRunnerTest, UntrainedMethodsEqualTheFrozenBase) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  StatusOr<MethodReport> report = RunMethods(f.job, f.base.model, rows, SmallOptions(0));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->results.size(), AllMethods().size());
  const MethodDomainResult& frozen = Find(*report, "frozen");
  EXPECT_GT(frozen.test_auc, 0.0);
  for (const MethodDomainResult& r : report->results) {
    EXPECT_DOUBLE_EQ(r.test_auc, frozen.test_auc) << r.method;
    EXPECT_DOUBLE_EQ(r.validation_auc, frozen.validation_auc) << r.method;
  }
}

TEST(MethodRunnerTest, EveryMethodTrainsToFiniteAucsWithItsCost) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  StatusOr<MethodReport> report = RunMethods(f.job, f.base.model, rows, SmallOptions(3));
  ASSERT_TRUE(report.ok()) << report.status();
  for (const MethodDomainResult& r : report->results) {
    EXPECT_TRUE(std::isfinite(r.test_auc) && r.test_auc > 0 && r.test_auc < 1) << r.method;
    EXPECT_TRUE(std::isfinite(r.validation_auc)) << r.method;
    EXPECT_EQ(r.domain, "late");
    if (r.method == "frozen") {
      EXPECT_EQ(r.trainable_params, 0);
      EXPECT_EQ(r.checkpoint_bytes, 0);
    } else {
      EXPECT_GE(r.best_epoch, 1) << r.method;
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

TEST(MethodRunnerTest, BadOptionsAndUnknownMethodsAreRefused) {
  Fixture f;
  model::TableLookup rows(&f.base.table);
  MethodRunnerOptions o = SmallOptions(1);
  o.batch_size = 0;
  EXPECT_FALSE(RunMethods(f.job, f.base.model, rows, o).ok());
  EXPECT_FALSE(ParseMethod("adapterfusion").ok());
  StatusOr<Method> lora = ParseMethod("lora");
  ASSERT_TRUE(lora.ok());
  EXPECT_EQ(*lora, Method::kLora);
}

}  // namespace
}  // namespace iak::worker
