// Per-domain evaluation: a domain whose split holds a single class gets
// "n/a" for AUC while the other domains keep their scores (it used to fail
// the whole `iak eval`).
#include "worker/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <unordered_map>
#include <vector>

#include "worker/domain_predictor.h"

namespace iak::worker {
namespace {

class MapLookup : public model::RowLookup {
 public:
  const float* Find(uint64_t key) const override {
    const auto it = rows_.find(key);
    return it == rows_.end() ? nullptr : it->second.data();
  }
  std::unordered_map<uint64_t, std::vector<float>> rows_;
};

TEST(EvaluatorTest, SingleClassDomainIsNotApplicableAndTheOthersAreScored) {
  constexpr int kDim = 4;
  JobData job;
  data::Dataset& d = job.dataset;
  d.fields = {{"item", false, data::Pooling::kSum}};
  d.domain_names = {"mixed", "all-negative"};
  MapLookup rows;
  // Domain 0: labels follow the key's row, both classes; domain 1: all 0.
  for (uint32_t s = 0; s < 60; ++s) {
    const int domain = s < 40 ? 0 : 1;
    const uint64_t key = s % 10;
    d.keys.push_back(key);
    d.offsets.push_back(d.keys.size());
    d.click.push_back(domain == 0 && key >= 5 ? 1.0f : 0.0f);
    d.domain.push_back(domain);
    d.timestamp.push_back(s);
    job.splits.resize(2);
    job.splits[static_cast<size_t>(domain)].test.push_back(s);
    rows.rows_[key] = std::vector<float>(kDim, 0.1f * static_cast<float>(key));
  }
  job.finetune_domains = {0, 1};
  model::BaseModelConfig config;
  config.embedding_dim = kDim;
  config.bottom_hidden = {8};
  config.tower_hidden = {};
  model::BaseModel base(config);
  base.Init(3);

  JobModels models;  // both domains scored by the base
  models.base = std::make_unique<model::BaseModel>(base);
  models.rows = std::make_unique<MapLookup>(rows);
  models.adapters.resize(2);
  StatusOr<EvalReport> report = EvaluateModels(job, models, "iak");
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 2u);
  EXPECT_TRUE(report->domains[0].auc_defined);
  EXPECT_FALSE(std::isnan(report->domains[0].base_auc));
  EXPECT_FALSE(report->domains[1].auc_defined);
  EXPECT_TRUE(std::isnan(report->domains[1].base_auc));
  EXPECT_EQ(report->domains[1].auc_note, "n/a: all 20 test labels are 0");
  EXPECT_EQ(report->domains_without_auc, 1);
  EXPECT_DOUBLE_EQ(report->mean_base_auc, report->domains[0].base_auc);

  const std::string table = report->ToTable();
  EXPECT_NE(table.find("n/a"), std::string::npos) << table;
  EXPECT_NE(table.find("over 1 of 2 domains"), std::string::npos) << table;
  EXPECT_EQ(table.find("nan"), std::string::npos) << table;
  const std::string json = report->ToJson();
  EXPECT_NE(json.find("\"base_auc\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"domains_without_auc\": 1"), std::string::npos) << json;
  EXPECT_EQ(json.find("nan"), std::string::npos) << json;
}

}  // namespace
}  // namespace iak::worker
