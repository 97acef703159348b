// What `iak compare` reports is what a cluster job trains: for one seed, a
// one-worker in-process cluster job (scheduler, 2 PS, a worker pulling over
// the in-process transport) and the comparison's local run of the same spec
// (compare::ComparisonSpec, worker::LocalTraining) end with bit-identical
// models and validation records, for an adapter method and a dense one.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include <google/protobuf/text_format.h>

#include "cluster/inproc_cluster.h"
#include "compare/method_comparison.h"
#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/evaluator.h"
#include "worker/local_lookup.h"
#include "worker/local_training.h"

namespace iak::cluster {
namespace {

class CompareMatchesClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_compare_matches_cluster");
    ASSERT_TRUE(dir_->ok());
    ASSERT_TRUE(testing_util::PretrainSmallModel(Job("pretrain")).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  static proto::JobSpec Job(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob("compare-vs-cluster",
                                                          dir_->path() + "/model",
                                                          dir_->path() + "/" + run);
    spec.set_num_workers(1);
    spec.mutable_validation()->set_every_n_steps(10);
    job::ApplyDefaults(&spec);
    return spec;
  }

  // `iak`: text merged into the job's iak spec (it states the hidden
  // widths, which replace the job's).
  static void ExpectSameTraining(compare::Method method, const std::string& iak = "") {
    compare::ComparisonOptions options;
    options.job = Job(std::string("cluster-") + compare::MethodName(method) +
                      (iak.empty() ? "" : "-iak"));
    if (!iak.empty()) {
      options.job->mutable_iak()->clear_encoder_hidden();
      options.job->mutable_iak()->clear_decoder_hidden();
    }
    ASSERT_TRUE(
        google::protobuf::TextFormat::MergeFromString(iak, options.job->mutable_iak()));
    ASSERT_TRUE(job::Validate(*options.job).ok()) << job::Validate(*options.job);
    StatusOr<worker::JobData> job = worker::LoadJobData(options.job->data());
    ASSERT_TRUE(job.ok()) << job.status();
    StatusOr<proto::JobSpec> spec = compare::ComparisonSpec(method, *job, options);
    ASSERT_TRUE(spec.ok()) << spec.status();

    std::atomic<bool> stop{false};
    InProcClusterResult cluster = RunInProcCluster(*spec, stop);
    ASSERT_TRUE(cluster.Overall().ok()) << cluster.Overall();

    StatusOr<worker::TrainingInputs> inputs = worker::LoadTrainingInputs(*spec);
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(inputs->model_dir);
    ASSERT_TRUE(table.ok()) << table.status();
    worker::LocalLookup rows(table->get());
    worker::LocalTraining local(*spec, &*inputs, &rows);
    ASSERT_TRUE(local.Run(stop).ok());

    const std::vector<worker::TrainedUnit>& units = local.trainer().units();
    ASSERT_EQ(cluster.method_params[0].size(), units.size());
    for (size_t u = 0; u < units.size(); ++u) {
      EXPECT_EQ(cluster.method_params[0][u], local.trainer().model(static_cast<int>(u))->Params())
          << compare::MethodName(method) << " " << units[u].name;
      EXPECT_GT(units[u].validation.curve_size(), 1) << units[u].name;
    }
    // `iak eval` of the cluster job scores what the trainer kept: each
    // unit's best validation AUC (validation.json holds 6 decimals).
    StatusOr<worker::EvalReport> eval = worker::EvaluateJob(*spec, data::SplitPart::kValidation);
    ASSERT_TRUE(eval.ok()) << eval.status();
    for (const worker::TrainedUnit& unit : units) {
      for (const worker::DomainResult& d : eval->domains) {
        if (d.domain != unit.name || unit.validation.best_step() == 0) continue;
        EXPECT_NEAR(d.iak_auc, unit.validation.best_auc(), 1e-6) << d.domain;
      }
    }
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* CompareMatchesClusterTest::dir_ = nullptr;

TEST_F(CompareMatchesClusterTest, IakAdaptersAreBitIdentical) {
  ExpectSameTraining(compare::Method::kIak);
}

TEST_F(CompareMatchesClusterTest, DenseModelsAreBitIdentical) {
  ExpectSameTraining(compare::Method::kDense);
}

// An adapter on the movie field's pooled embedding alone, linear.
TEST_F(CompareMatchesClusterTest, AdaptersOnAFieldAreBitIdentical) {
  ExpectSameTraining(compare::Method::kIak,
                     R"(insertion: "x" fields: ["movie"] encoder_hidden: 0 decoder_hidden: 0)");
}

// A variant's lists replace the job's (the job's encoder_hidden [32] becomes
// none), and every variant is checked as a job spec before anything trains.
TEST_F(CompareMatchesClusterTest, VariantsReplaceListsAndAreCheckedFirst) {
  compare::ComparisonOptions options;
  options.job = Job("variants");
  options.methods = {compare::Method::kFrozen};
  StatusOr<compare::MethodVariant> linear = compare::ParseMethodVariant(
      R"(linear=iak:iak { insertion: "x" fields: ["movie"] encoder_hidden: 0 decoder_hidden: 0 })");
  ASSERT_TRUE(linear.ok()) << linear.status();
  options.variants = {*linear};
  StatusOr<worker::TrainingInputs> inputs = worker::LoadTrainingInputs(*options.job);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(inputs->model_dir);
  ASSERT_TRUE(table.ok()) << table.status();
  worker::LocalLookup rows(table->get());
  StatusOr<compare::MethodReport> report =
      compare::RunComparison(inputs->job, *inputs->base, rows, options);
  ASSERT_TRUE(report.ok()) << report.status();
  model::IakConfig expected;
  expected.input_dim = inputs->base->config().input_dim();
  expected.latent_dim = options.job->iak().latent_dim();
  expected.encoder_hidden.clear();  // the variant's single 0s
  expected.decoder_hidden.clear();
  for (int j = 0; j < inputs->base->config().embedding_dim; ++j) {
    expected.columns.push_back(inputs->base->config().embedding_dim + j);  // field 1: movie
  }
  const int64_t params = static_cast<int64_t>(model::IakModule(expected).num_params());
  int linear_results = 0;
  for (const compare::MethodDomainResult& r : report->results) {
    if (r.method != "linear") continue;
    EXPECT_EQ(r.trainable_params, params) << r.domain;
    ++linear_results;
  }
  EXPECT_GT(linear_results, 0);

  StatusOr<compare::MethodVariant> bad =
      compare::ParseMethodVariant(R"(on-h=iak:iak { insertion: "h" fields: ["movie"] })");
  ASSERT_TRUE(bad.ok()) << bad.status();
  options.variants = {*linear, *bad};
  report = compare::RunComparison(inputs->job, *inputs->base, rows, options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("compare on-h"), std::string::npos)
      << report.status();
  EXPECT_NE(report.status().message().find("iak.fields"), std::string::npos) << report.status();
}

}  // namespace
}  // namespace iak::cluster
