// New-key rows on a whole in-process cluster (scheduler, 2 PS, 2 workers) on
// the bundled MovieLens data: every worker trains the same adapter and rows;
// the rows written are exactly keys the frozen snapshot lacks; evaluation,
// prediction and export carry them; promote merges them into a snapshot; a job resumed from a checkpoint ends with the rows of
// an uninterrupted one, bit for bit.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cluster/inproc_cluster.h"
#include "common/file_util.h"
#include "data/split.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_tools.h"
#include "job/job_spec.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/adapter_store.h"
#include "worker/domain_predictor.h"
#include "worker/exporter.h"
#include "worker/evaluator.h"
#include "worker/new_key_rows.h"

namespace iak::cluster {
namespace {

class NewKeyRowsClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_new_key_rows_cluster_test");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain"));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
    std::atomic<bool> stop{false};
    reference_ = new InProcClusterResult(RunInProcCluster(Spec("reference"), stop));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete reference_;
  }

  // The small job (40 compression + 20 matching steps, 4 domains) with
  // new-key rows; a checkpoint every 10 steps.
  static proto::JobSpec Spec(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(
        "new-key-rows-test", dir_->path() + "/model", dir_->path() + "/" + run);
    spec.mutable_iak()->mutable_new_key_rows()->set_enabled(true);
    spec.mutable_checkpoint()->set_every_n_steps(10);
    spec.mutable_validation()->set_every_n_steps(10);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static testing_util::TempDir* dir_;
  static InProcClusterResult* reference_;
};

testing_util::TempDir* NewKeyRowsClusterTest::dir_ = nullptr;
InProcClusterResult* NewKeyRowsClusterTest::reference_ = nullptr;

TEST_F(NewKeyRowsClusterTest, WorkersAgreeAndRowsAreOnlyKeysTheSnapshotLacks) {
  ASSERT_TRUE(reference_->Overall().ok()) << reference_->Overall();
  ASSERT_EQ(reference_->method_params.size(), 2u);
  ASSERT_EQ(reference_->method_params[0].size(), 4u);
  EXPECT_EQ(reference_->method_params[0], reference_->method_params[1]);
  for (size_t d = 0; d < 4; ++d) {
    // Adapter values, then rows.
    EXPECT_GT(reference_->method_params[0][d].size(),
              reference_->adapters[0][d].num_params()) << "domain " << d;
  }
  const proto::JobSpec spec = Spec("reference");
  StatusOr<embedding::ModelDirectory> model_dir = embedding::LoadModelDirectory(spec.model_dir());
  ASSERT_TRUE(model_dir.ok()) << model_dir.status();
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(*model_dir);
  ASSERT_TRUE(table.ok()) << table.status();
  int64_t rows_seen = 0;
  for (const std::string& domain : reference_->domain_names) {
    StatusOr<worker::NewKeyRows> rows =
        worker::LoadNewKeyRows(spec.output_dir() + "/adapters", domain, nullptr);
    ASSERT_TRUE(rows.ok()) << rows.status();
    for (uint64_t key : rows->keys()) {
      EXPECT_EQ((*table)->Find(key), nullptr) << domain << ": key " << key << " is in the snapshot";
    }
    rows_seen += static_cast<int64_t>(rows->num_rows());
  }
  EXPECT_GT(rows_seen, 0);
}

TEST_F(NewKeyRowsClusterTest, EvaluationAndPredictionReadTheRows) {
  ASSERT_TRUE(reference_->Overall().ok());
  const proto::JobSpec spec = Spec("reference");
  StatusOr<worker::EvalReport> report = worker::EvaluateJob(spec, data::SplitPart::kTest);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->domains.size(), 4u);
  // Prediction: each sample pools from its domain's rows.
  StatusOr<std::unique_ptr<worker::JobModels>> models =
      worker::LoadJobModels(spec, reference_->domain_names);
  ASSERT_TRUE(models.ok()) << models.status();
  int with_rows = 0;
  for (const auto& lookup : (*models)->DomainRows()) with_rows += lookup != nullptr ? 1 : 0;
  EXPECT_EQ(with_rows, 4);
  const worker::NewKeyRows& rows = *(*models)->new_rows[0];
  ASSERT_GT(rows.num_rows(), 0u);
  const float* own = (*models)->DomainRows()[0]->Find(rows.keys()[0]);
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(own[0], rows.values()[0]);
  EXPECT_EQ((*models)->rows->Find(rows.keys()[0]), nullptr);

  // Export: each unit's rows as a tensor, their keys in the metadata.
  StatusOr<worker::ExportReport> exported =
      worker::ExportJob(spec, dir_->path() + "/export");
  ASSERT_TRUE(exported.ok()) << exported.status();
  std::string blob;
  ASSERT_TRUE(ReadFileToString(exported->path, &blob).ok());
  StatusOr<worker::SafetensorsFile> file = worker::DecodeSafetensors(blob, exported->path);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string name = "iak." + reference_->domain_names[0] + ".new_key_rows";
  bool found = false;
  for (const worker::ExportTensor& t : file->tensors) {
    if (t.name != name) continue;
    found = true;
    EXPECT_EQ(t.values, rows.values());
  }
  EXPECT_TRUE(found) << name;
  ASSERT_EQ(file->metadata.count(name), 1u);
  EXPECT_NE(file->metadata.at(name).find("\"" + std::to_string(rows.keys()[0]) + "\""),
            std::string::npos);
}

// A domain's rows promoted into a new snapshot: every old row and every new
// row there, the new ones exactly as trained; promoting twice is refused.
TEST_F(NewKeyRowsClusterTest, PromoteMergesADomainsRowsIntoANewSnapshot) {
  ASSERT_TRUE(reference_->Overall().ok());
  const proto::JobSpec spec = Spec("reference");
  const std::string domain = reference_->domain_names.back();
  StatusOr<worker::NewKeyRows> rows =
      worker::LoadNewKeyRows(spec.output_dir() + "/adapters", domain, nullptr);
  ASSERT_TRUE(rows.ok()) << rows.status();
  const std::string out = dir_->path() + "/promoted";
  StatusOr<proto::ModelManifest> manifest =
      embedding::PromoteRows(spec.model_dir(), out, rows->keys(), rows->values(), 2, false);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  StatusOr<embedding::ModelDirectory> before = embedding::LoadModelDirectory(spec.model_dir());
  StatusOr<embedding::ModelDirectory> after = embedding::LoadModelDirectory(out);
  ASSERT_TRUE(before.ok() && after.ok());
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(*after);
  ASSERT_TRUE(table.ok()) << table.status();
  uint64_t rows_before = 0, rows_after = 0;
  for (const proto::ShardInfo& s : before->manifest.shards()) rows_before += s.num_rows();
  for (const proto::ShardInfo& s : after->manifest.shards()) rows_after += s.num_rows();
  EXPECT_EQ(rows_after, rows_before + rows->num_rows());
  for (size_t i = 0; i < rows->num_rows(); ++i) {
    const float* row = (*table)->Find(rows->keys()[i]);
    ASSERT_NE(row, nullptr);
    for (int j = 0; j < rows->dim(); ++j) EXPECT_EQ(row[j], rows->values()[i * rows->dim() + j]);
  }
  EXPECT_EQ(embedding::PromoteRows(out, dir_->path() + "/twice", rows->keys(), rows->values(), 2,
                                   false)
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
}

// Cut after the compression phase, then resumed with the full plan: the
// adapters and rows equal the uninterrupted run's bit for bit.
TEST_F(NewKeyRowsClusterTest, ResumeRestoresTheRowsBitForBit) {
  ASSERT_TRUE(reference_->Overall().ok());
  proto::JobSpec first = Spec("resumed");
  first.mutable_phases()->RemoveLast();
  std::atomic<bool> stop{false};
  InProcClusterResult cut = RunInProcCluster(first, stop);
  ASSERT_TRUE(cut.Overall().ok()) << cut.Overall();
  proto::JobSpec resumed = Spec("resumed");
  resumed.mutable_checkpoint()->set_resume(true);
  InProcClusterResult result = RunInProcCluster(resumed, stop);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  EXPECT_EQ(result.steps_done[0], 60);
  EXPECT_EQ(result.method_params, reference_->method_params);
}

}  // namespace
}  // namespace iak::cluster
