// What real workers keep to go faster, inside a whole in-process cluster
// (scheduler, 2 PS, 2 workers) on the bundled MovieLens data: the
// frozen-prefix cache, and the frozen rows kept once pulled
// (pinned_rows_mb). Each must leave the adapters bit-identical to the job
// without it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "cluster/inproc_cluster.h"
#include "data/shard_set.h"
#include "job/job_spec.h"
#include "tests/testing/small_job.h"
#include "worker/pretrain_job.h"
#include "worker/training_setup.h"

namespace iak::worker {
namespace {

class WorkerCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/iak_worker_cache_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    // Large batches, so each domain's shard is seen several times (epochs
    // 2+ are where the cache serves and where kept rows are read again).
    spec_ = testing_util::SmallMovieLensJob("worker-cache-test", dir_ + "/model", dir_ + "/out",
                                            /*batch_size=*/1024);
    job::ApplyDefaults(&spec_);
    ASSERT_TRUE(job::Validate(spec_).ok());
    PretrainJobOptions pretrain;
    pretrain.data = spec_.data();
    pretrain.model_dir = spec_.model_dir();
    pretrain.num_shards = spec_.num_servers();
    pretrain.train.epochs = 1;
    ASSERT_TRUE(RunPretrainJob(pretrain).ok());
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  static cluster::InProcClusterResult Run(const proto::JobSpec& spec) {
    std::atomic<bool> stop{false};
    cluster::InProcClusterResult result = cluster::RunInProcCluster(spec, stop);
    EXPECT_TRUE(result.Overall().ok()) << result.Overall();
    return result;
  }

  static void ExpectSameAdapters(const cluster::InProcClusterResult& a,
                                 const cluster::InProcClusterResult& b) {
    ASSERT_EQ(a.adapters.size(), b.adapters.size());
    ASSERT_FALSE(a.adapters.empty());
    for (size_t w = 0; w < a.adapters.size(); ++w) {
      ASSERT_EQ(a.adapters[w].size(), b.adapters[w].size());
      for (size_t d = 0; d < a.adapters[w].size(); ++d) {
        EXPECT_EQ(a.adapters[w][d].params(), b.adapters[w][d].params())
            << "worker " << w << ", domain " << a.domain_names[d];
      }
    }
  }

  // Runs `kept` and the same job pulling every batch (pinned_rows_mb -1):
  // the same adapters, and with rows kept every worker pulls some keys but
  // fewer than half as many. Returns worker 0's keys pulled, kept and per batch.
  static std::pair<uint64_t, uint64_t> ExpectKeptRowsPullUnderHalf(const proto::JobSpec& kept) {
    proto::JobSpec per_batch = kept;
    per_batch.set_pinned_rows_mb(-1);
    const cluster::InProcClusterResult pinned = Run(kept);
    const cluster::InProcClusterResult pulled = Run(per_batch);
    ExpectSameAdapters(pinned, pulled);
    EXPECT_EQ(pinned.keys_pulled.size(), pulled.keys_pulled.size());
    if (pinned.keys_pulled.empty() || pinned.keys_pulled.size() != pulled.keys_pulled.size()) {
      return {0, 0};
    }
    for (size_t w = 0; w < pinned.keys_pulled.size(); ++w) {
      EXPECT_GT(pinned.keys_pulled[w], 0u);
      EXPECT_LT(pinned.keys_pulled[w] * 2, pulled.keys_pulled[w])
          << "worker " << w << ": " << pinned.keys_pulled[w] << " keys pulled with rows kept vs "
          << pulled.keys_pulled[w] << " pulling every batch";
    }
    return {pinned.keys_pulled[0], pulled.keys_pulled[0]};
  }

  std::string dir_;
  proto::JobSpec spec_;
};

TEST_F(WorkerCacheTest, CacheOnGivesTheSameAdaptersAsCacheOff) {
  proto::JobSpec off = spec_;
  off.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
  ExpectSameAdapters(Run(spec_), Run(off));
}

// The prefix cache off, so every epoch pools rows: kept once pulled (the
// default), they give the adapters of pulling every batch, from far fewer
// keys pulled.
TEST_F(WorkerCacheTest, KeptRowsGiveTheSameAdaptersFromFewerPulls) {
  ASSERT_EQ(job::PinnedRowsBudgetBytes(spec_), uint64_t{256} << 20);
  proto::JobSpec kept = spec_;
  kept.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
  // Validation scoring reads the kept rows too.
  ExpectKeptRowsPullUnderHalf(kept);
}

// A streamed job holds only its validation samples in memory: their rows are
// kept, so each evaluation scores from kept rows instead of pulling them
// again, with the adapters of pulling every batch.
TEST_F(WorkerCacheTest, AStreamedJobKeepsItsValidationRows) {
  StatusOr<TrainingInputs> loaded = LoadTrainingInputs(spec_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  data::ShardSetWriteOptions write;
  write.dir = dir_ + "/shards";
  write.num_shards = 2;
  write.file.block_samples = 1000;
  const Status written =
      data::WriteShardSet(loaded->job.dataset, proto::Schema(), {}, write).status();
  ASSERT_TRUE(written.ok()) << written;
  proto::JobSpec kept = spec_;
  kept.mutable_data()->set_shard_manifest(write.dir + "/manifest.pbtxt");
  kept.mutable_data()->set_stream(true);
  kept.mutable_data()->set_stream_cache_mb(1);
  kept.mutable_validation()->set_every_n_steps(5);  // many evaluations of the same samples
  const auto [with_kept, per_batch] = ExpectKeptRowsPullUnderHalf(kept);
  std::printf("streamed job, keys pulled by worker 0: %llu with validation rows kept, %llu "
              "pulling every batch\n",
              static_cast<unsigned long long>(with_kept),
              static_cast<unsigned long long>(per_batch));
}

}  // namespace
}  // namespace iak::worker
