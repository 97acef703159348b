// What `iak compare` reports is what a cluster job trains: for one seed, a
// one-worker in-process cluster job (scheduler, 2 PS, a worker pulling over
// the in-process transport) and the comparison's local run of the same spec
// (compare::ComparisonSpec, worker::LocalTraining) end with bit-identical
// models and validation records, for an adapter method and a dense one.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "cluster/inproc_cluster.h"
#include "compare/method_comparison.h"
#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
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

  static void ExpectSameTraining(compare::Method method) {
    compare::ComparisonOptions options;
    options.job = Job(std::string("cluster-") + compare::MethodName(method));
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

}  // namespace
}  // namespace iak::cluster
