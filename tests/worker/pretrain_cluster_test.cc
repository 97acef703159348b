// Pre-training as a cluster job (worker/pretrain_job.h RunClusterPretrain)
// on the in-process cluster: a scheduler, trainable servers that start empty
// and create rows on first push, workers running the one Trainer. Its model
// directory loads as a base for fine-tuning, and a one-worker cluster run
// equals the single-process `iak pretrain` bit for bit.
#include "worker/pretrain_job.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>

#include "cluster/inproc_cluster.h"
#include "data/shard_set.h"
#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/evaluator.h"
#include "worker/job_data.h"

namespace iak::worker {
namespace {

class PretrainClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_pretrain_cluster_test");
    ASSERT_TRUE(dir_->ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  // One epoch of 256-sample steps over the first period (32377 ratings).
  static PretrainOptions Options() {
    PretrainOptions o;
    o.epochs = 1;
    o.batch_size = 256;
    o.key_dropout = 0.3f;
    o.seed = 4;
    return o;
  }

  // The user's spec of a cluster pre-training of `name`.
  static proto::JobSpec Spec(const std::string& name, int workers) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(
        name, dir_->path() + "/" + name + "-model", dir_->path() + "/" + name + "-out");
    spec.set_num_servers(2);
    spec.set_num_workers(workers);
    *spec.mutable_pretrain() = PretrainSpecOf(Options(), 0);
    spec.set_seed(Options().seed);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static StatusOr<PretrainJobResult> RunOnCluster(const proto::JobSpec& spec) {
    return RunClusterPretrain(
        spec,
        [](const proto::JobSpec& trainer_spec) {
          proto::JobSpec job = trainer_spec;
          job::ApplyDefaults(&job);
          IAK_RETURN_IF_ERROR(job::Validate(job));
          std::atomic<bool> stop{false};
          return cluster::RunInProcCluster(job, stop).Overall();
        },
        /*overwrite=*/false);
  }

  struct Loaded {
    embedding::ModelDirectory dir;
    std::unique_ptr<embedding::LocalEmbeddingTable> table;
  };
  static Loaded Load(const std::string& model_dir) {
    Loaded loaded;
    StatusOr<embedding::ModelDirectory> dir = embedding::LoadModelDirectory(model_dir);
    EXPECT_TRUE(dir.ok()) << dir.status();
    if (!dir.ok()) return loaded;
    loaded.dir = std::move(*dir);
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(loaded.dir);
    EXPECT_TRUE(table.ok()) << table.status();
    if (table.ok()) loaded.table = std::move(*table);
    return loaded;
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* PretrainClusterTest::dir_ = nullptr;

TEST_F(PretrainClusterTest, TwoServersTwoWorkersPretrainABaseThatFineTunes) {
  const proto::JobSpec spec = Spec("two", 2);
  StatusOr<PretrainJobResult> result = RunOnCluster(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->samples, 32377);
  EXPECT_EQ(result->num_tasks, 1);
  // A row for every key of the first period's samples (users, movies,
  // genres), created on its first push.
  StatusOr<JobData> job = LoadJobData(spec.data());
  ASSERT_TRUE(job.ok());
  std::set<uint64_t> keys;
  for (uint32_t id : PretrainSampleIds(*job)) {
    for (int f = 0; f < job->dataset.num_fields(); ++f) {
      size_t count = 0;
      const uint64_t* k = job->dataset.FieldKeys(id, f, &count);
      keys.insert(k, k + count);
    }
  }
  EXPECT_EQ(result->rows, keys.size());
  EXPECT_FALSE(std::filesystem::exists(InitialModelDir(spec)));
  const Loaded base = Load(spec.model_dir());
  ASSERT_NE(base.table, nullptr);
  EXPECT_EQ(base.dir.manifest.num_shards(), 2);
  EXPECT_EQ(base.table->num_rows(), result->rows);

  // The model directory is a base a fine-tuning job trains on.
  proto::JobSpec tune = testing_util::SmallMovieLensJob("tune", spec.model_dir(),
                                                        dir_->path() + "/tune-out");
  job::ApplyDefaults(&tune);
  ASSERT_TRUE(job::Validate(tune).ok());
  std::atomic<bool> stop{false};
  cluster::InProcClusterResult tuned = cluster::RunInProcCluster(tune, stop);
  ASSERT_TRUE(tuned.Overall().ok()) << tuned.Overall();
  StatusOr<EvalReport> report = EvaluateJob(tune);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 4u);
  // One epoch of pre-training already ranks the later periods (the last,
  // furthest from it, least).
  double base_auc = 0, tuned_auc = 0;
  for (const DomainResult& d : report->domains) {
    base_auc += d.base_auc / 4;
    tuned_auc += d.iak_auc / 4;
  }
  EXPECT_GT(base_auc, 0.58);
  EXPECT_GT(tuned_auc, 0.58);
}

// Both model directories hold the same dense weights and, for every key of
// `data`, the same row (or none).
void ExpectSameModel(const std::string& dir_a, const std::string& dir_b,
                     const proto::DataSpec& data) {
  StatusOr<embedding::ModelDirectory> a = embedding::LoadModelDirectory(dir_a);
  StatusOr<embedding::ModelDirectory> b = embedding::LoadModelDirectory(dir_b);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->dense_blob == b->dense_blob);
  EXPECT_EQ(a->manifest.snapshot_id(), b->manifest.snapshot_id());
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> rows_a =
      embedding::LocalEmbeddingTable::Open(*a);
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> rows_b =
      embedding::LocalEmbeddingTable::Open(*b);
  ASSERT_TRUE(rows_a.ok() && rows_b.ok());
  ASSERT_EQ((*rows_a)->num_rows(), (*rows_b)->num_rows());
  StatusOr<JobData> job = LoadJobData(data);
  ASSERT_TRUE(job.ok());
  const int dim = (*rows_a)->dim();
  size_t present = 0;
  for (uint64_t key : job->dataset.keys) {
    const float* row = (*rows_a)->Find(key);
    const float* other = (*rows_b)->Find(key);
    ASSERT_EQ(row == nullptr, other == nullptr) << key;
    if (row == nullptr) continue;
    ++present;
    ASSERT_TRUE(std::equal(row, row + dim, other)) << key;
  }
  EXPECT_GT(present, 0u);
}

// The same spec with one worker on the cluster and in one process: the same
// Trainer, FullModel and row optimizer (servers vs a local overlay, the same
// seeded init), so the same model bit for bit.
TEST_F(PretrainClusterTest, OneWorkerClusterEqualsTheSingleProcessRun) {
  const proto::JobSpec spec = Spec("one", 1);
  StatusOr<PretrainJobResult> cluster_run = RunOnCluster(spec);
  ASSERT_TRUE(cluster_run.ok()) << cluster_run.status();
  PretrainJobOptions local;
  local.data = spec.data();
  local.model_dir = dir_->path() + "/local-model";
  local.num_shards = 2;
  local.train = Options();
  StatusOr<PretrainJobResult> local_run = RunPretrainJob(local);
  ASSERT_TRUE(local_run.ok()) << local_run.status();
  EXPECT_EQ(cluster_run->snapshot_id, local_run->snapshot_id);
  ExpectSameModel(spec.model_dir(), local.model_dir, spec.data());
}

// Workers streaming their shards (data.stream over a domain-ordered shard
// set) pre-train the same model as the single-process run that holds the
// whole set: a streamed range visits the very samples in the same order.
TEST_F(PretrainClusterTest, StreamedShardsPretrainLikeTheWholeSet) {
  proto::JobSpec spec = Spec("streamed", 1);
  StatusOr<JobData> whole = LoadJobData(spec.data());
  ASSERT_TRUE(whole.ok());
  data::ShardSetWriteOptions write;
  write.dir = dir_->path() + "/shards";
  write.num_shards = 3;
  write.file.block_samples = 1000;
  ASSERT_TRUE(data::WriteShardSet(whole->dataset, proto::Schema(), {}, write).ok());
  proto::DataSpec shards = spec.data();
  shards.clear_movielens_dir();
  shards.set_shard_manifest(write.dir + "/manifest.pbtxt");
  *spec.mutable_data() = shards;
  spec.mutable_data()->set_stream(true);
  spec.mutable_data()->set_stream_cache_mb(1);
  StatusOr<PretrainJobResult> streamed = RunOnCluster(spec);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_EQ(streamed->samples, 32377);
  PretrainJobOptions local;
  local.data = shards;
  local.model_dir = dir_->path() + "/whole-model";
  local.num_shards = 2;
  local.train = Options();
  StatusOr<PretrainJobResult> local_run = RunPretrainJob(local);
  ASSERT_TRUE(local_run.ok()) << local_run.status();
  ExpectSameModel(spec.model_dir(), local.model_dir, shards);
}

}  // namespace
}  // namespace iak::worker
