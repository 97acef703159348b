// Multi-task pre-training from users' data (worker/pretrain_job.h): data with
// conversion labels (a schema with COLUMN_CONVERSION, here `iak data synth`
// output) pre-trains the two-task ESMM base unless told otherwise, a forced
// second task without conversions is a clear error, and evaluation reports
// CTCVR-AUC next to CTR-AUC for a two-task base (worker/evaluator.h).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "data/synth.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "model/base_model.h"
#include "model/iak_module.h"
#include "tests/testing/temp_dir.h"
#include "worker/evaluator.h"
#include "worker/job_data.h"
#include "worker/local_lookup.h"
#include "worker/domain_predictor.h"
#include "worker/pretrain_job.h"

namespace iak::worker {
namespace {

class PretrainEsmmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_pretrain_esmm");
    ASSERT_TRUE(dir_->ok());
    data::SynthOptions synth;
    synth.out = dir_->path() + "/synth.csv";
    synth.samples = 8000;
    synth.keys = 400;
    synth.domains = 3;
    synth.seed = 11;
    StatusOr<data::SynthReport> written = data::WriteSynthData(synth);
    ASSERT_TRUE(written.ok()) << written.status();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // The synthetic CSV read with examples/synth.schema.pbtxt: d00 pre-trains,
  // d01 and d02 are fine-tuned domains.
  static proto::DataSpec SynthData() {
    proto::DataSpec data;
    data.set_schema_file("examples/synth.schema.pbtxt");
    data.add_input_files(dir_->path() + "/synth.csv");
    data.set_pretrain_periods(1);
    data.set_train_fraction(0.7);
    data.set_validation_fraction(0.1);
    return data;
  }

  static PretrainJobOptions Options(const proto::DataSpec& data, const std::string& name,
                                    int num_tasks) {
    PretrainJobOptions options;
    options.data = data;
    options.model_dir = dir_->path() + "/" + name;
    options.num_shards = 1;
    options.num_tasks = num_tasks;
    options.train.epochs = 1;
    return options;
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* PretrainEsmmTest::dir_ = nullptr;

TEST(ResolveNumTasksTest, AutoFollowsTheConversionLabelsAndTwoNeedsThem) {
  EXPECT_EQ(*ResolveNumTasks(0, true, "x"), 2);
  EXPECT_EQ(*ResolveNumTasks(0, false, "x"), 1);
  EXPECT_EQ(*ResolveNumTasks(1, true, "x"), 1);
  EXPECT_EQ(*ResolveNumTasks(2, true, "x"), 2);
  StatusOr<int> two = ResolveNumTasks(2, false, "schema examples/criteo.schema.pbtxt");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(two.status().message().find("conversion labels"), std::string::npos) << two.status();
  EXPECT_NE(two.status().message().find("examples/criteo.schema.pbtxt"), std::string::npos);
  EXPECT_NE(two.status().message().find("COLUMN_CONVERSION"), std::string::npos);
  StatusOr<int> three = ResolveNumTasks(3, true, "x");
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PretrainEsmmTest, SchemaDataWithConversionsPretrainsATwoTaskBase) {
  StatusOr<PretrainJobResult> result = RunPretrainJob(Options(SynthData(), "auto", 0));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->num_tasks, 2);
  EXPECT_TRUE(result->has_conversion);
  StatusOr<proto::ModelManifest> manifest = embedding::ReadManifest(dir_->path() + "/auto");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->num_tasks(), 2);
  EXPECT_NE(manifest->data_description().find("schema examples/synth.schema.pbtxt"),
            std::string::npos)
      << manifest->data_description();
  StatusOr<embedding::ModelDirectory> model_dir =
      embedding::LoadModelDirectory(dir_->path() + "/auto");
  ASSERT_TRUE(model_dir.ok()) << model_dir.status();
  StatusOr<model::BaseModel> base = model::BaseModel::Deserialize(model_dir->dense_blob);
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(base->config().num_tasks, 2);
}

TEST_F(PretrainEsmmTest, OneTaskCanBeForcedOnDataWithConversions) {
  StatusOr<PretrainJobResult> result = RunPretrainJob(Options(SynthData(), "one", 1));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->num_tasks, 1);
  EXPECT_TRUE(result->has_conversion);
  StatusOr<proto::ModelManifest> manifest = embedding::ReadManifest(dir_->path() + "/one");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->num_tasks(), 1);
}

TEST_F(PretrainEsmmTest, TwoTasksWithoutConversionsIsAClearErrorBeforeTraining) {
  proto::DataSpec criteo;  // a schema without a conversion column
  criteo.set_schema_file("examples/criteo.schema.pbtxt");
  criteo.add_input_files("datasets/samples/criteo_sample.txt");
  criteo.set_pretrain_periods(1);
  criteo.set_train_fraction(0.8);
  criteo.set_validation_fraction(0.1);
  StatusOr<PretrainJobResult> result = RunPretrainJob(Options(criteo, "criteo", 2));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("needs conversion labels"), std::string::npos)
      << result.status();
  EXPECT_FALSE(embedding::ReadManifest(dir_->path() + "/criteo").ok());  // nothing written
}

// Evaluation of a two-task base reports CTCVR-AUC next to CTR-AUC; of a
// one-task base on the same data, the CTR columns only (as before).
TEST_F(PretrainEsmmTest, EvalReportsCtcvrAucForATwoTaskBase) {
  for (const std::string name : {"eval2", "eval1"}) {
    const int tasks = name == "eval2" ? 2 : 1;
    ASSERT_TRUE(RunPretrainJob(Options(SynthData(), name, tasks)).ok());
    StatusOr<JobData> job = LoadJobData(SynthData());
    ASSERT_TRUE(job.ok()) << job.status();
    StatusOr<embedding::ModelDirectory> model_dir =
        embedding::LoadModelDirectory(dir_->path() + "/" + name);
    ASSERT_TRUE(model_dir.ok()) << model_dir.status();
    StatusOr<model::BaseModel> base = model::BaseModel::Deserialize(model_dir->dense_blob);
    ASSERT_TRUE(base.ok()) << base.status();
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(*model_dir);
    ASSERT_TRUE(table.ok()) << table.status();
    // Fresh adapters are the identity (zero parameters): base == tuned.
    JobModels models;
    models.rows = std::make_unique<LocalLookup>(table->get());
    model::IakConfig config;
    config.input_dim = base->config().bottom_hidden.back();
    models.adapters.resize(job->dataset.domain_names.size());
    for (int d : job->finetune_domains) {
      models.adapters[static_cast<size_t>(d)] = std::make_unique<model::IakModule>(config);
    }
    models.base = std::make_unique<model::BaseModel>(std::move(*base));
    StatusOr<EvalReport> report = EvaluateModels(*job, models, "iak");
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->domains.size(), 2u);
    const std::string table_text = report->ToTable();
    const std::string json = report->ToJson();
    EXPECT_NE(table_text.find("base AUC"), std::string::npos);  // existing columns stay
    EXPECT_NE(json.find("\"base_auc\""), std::string::npos);
    if (tasks == 1) {
      EXPECT_FALSE(report->has_ctcvr);
      EXPECT_EQ(table_text.find("CTCVR"), std::string::npos) << table_text;
      EXPECT_EQ(json.find("ctcvr"), std::string::npos) << json;
      continue;
    }
    EXPECT_TRUE(report->has_ctcvr);
    for (const DomainResult& d : report->domains) {
      ASSERT_FALSE(std::isnan(d.base_ctcvr_auc)) << d.domain;
      EXPECT_GT(d.base_ctcvr_auc, 0.0);
      EXPECT_LT(d.base_ctcvr_auc, 1.0);
      EXPECT_DOUBLE_EQ(d.iak_ctcvr_auc, d.base_ctcvr_auc) << d.domain;  // identity adapters
    }
    EXPECT_FALSE(std::isnan(report->mean_base_ctcvr_auc));
    EXPECT_NE(table_text.find("base CTCVR"), std::string::npos) << table_text;
    EXPECT_NE(table_text.find("IAK CTCVR"), std::string::npos) << table_text;
    EXPECT_NE(json.find("\"base_ctcvr_auc\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"mean_iak_ctcvr_auc\""), std::string::npos) << json;

    // The other evaluator (any method; "frozen" needs no trained files)
    // reports the same figures for the base.
    proto::JobSpec spec;
    spec.set_method("frozen");
    spec.set_model_dir(dir_->path() + "/" + name);
    spec.set_output_dir(dir_->path() + "/frozen-run");
    *spec.mutable_data() = SynthData();
    StatusOr<EvalReport> frozen = EvaluateJob(spec);
    ASSERT_TRUE(frozen.ok()) << frozen.status();
    EXPECT_TRUE(frozen->has_ctcvr);
    ASSERT_EQ(frozen->domains.size(), report->domains.size());
    for (size_t i = 0; i < frozen->domains.size(); ++i) {
      EXPECT_NEAR(frozen->domains[i].base_ctcvr_auc, report->domains[i].base_ctcvr_auc, 1e-9);
      EXPECT_NEAR(frozen->domains[i].base_auc, report->domains[i].base_auc, 1e-9);
    }
    EXPECT_NE(frozen->ToTable().find("frozen CTCVR"), std::string::npos) << frozen->ToTable();
  }
}

TEST(EvalReportTest, UndefinedCtcvrAucIsNaNInTheTableAndNullInJson) {
  EvalReport report;
  report.split = "test";
  report.has_ctcvr = true;
  DomainResult d;
  d.domain = "quiet";
  // No conversion among the samples: CTCVR-AUC is undefined, not an error.
  ASSERT_TRUE(SetCtcvrAucs({0.1f, 0.2f}, {0.1f, 0.3f}, {1.0f, 0.0f}, {0.0f, 0.0f}, &d).ok());
  EXPECT_TRUE(std::isnan(d.base_ctcvr_auc));
  report.domains.push_back(d);
  report.ComputeCtcvrMeans();
  EXPECT_TRUE(std::isnan(report.mean_base_ctcvr_auc));
  EXPECT_NE(report.ToTable().find("n/a"), std::string::npos) << report.ToTable();
  EXPECT_NE(report.ToJson().find("\"base_ctcvr_auc\": null"), std::string::npos)
      << report.ToJson();
  // A length mismatch is the caller's bug: an error.
  EXPECT_FALSE(SetCtcvrAucs({0.1f}, {0.1f}, {1.0f, 0.0f}, {0.0f, 1.0f}, &d).ok());
}

}  // namespace
}  // namespace iak::worker
