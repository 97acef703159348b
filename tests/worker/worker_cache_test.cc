// The frozen-prefix cache inside real workers: a whole in-process cluster
// (scheduler, 2 PS, 2 workers) on the bundled MovieLens data, run with the
// cache off and with the default (on); the adapters must be bit-identical.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <string>

#include "cluster/inproc_cluster.h"
#include "job/job_spec.h"
#include "tests/testing/small_job.h"
#include "worker/pretrain_job.h"

namespace iak::worker {
namespace {

TEST(WorkerFrozenPrefixCacheTest, CacheOnGivesTheSameAdaptersAsCacheOff) {
  char pattern[] = "/tmp/iak_worker_cache_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  // Large batches, so each domain's shard is seen several times (epochs 2+
  // are where the cache serves).
  proto::JobSpec spec = testing_util::SmallMovieLensJob("worker-cache-test", dir + "/model",
                                                        dir + "/out", /*batch_size=*/1024);
  job::ApplyDefaults(&spec);
  ASSERT_TRUE(job::Validate(spec).ok());

  PretrainJobOptions pretrain;
  pretrain.data = spec.data();
  pretrain.model_dir = spec.model_dir();
  pretrain.num_shards = spec.num_servers();
  pretrain.train.epochs = 1;
  ASSERT_TRUE(RunPretrainJob(pretrain).ok());

  std::atomic<bool> stop{false};
  proto::JobSpec off = spec;
  off.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
  const cluster::InProcClusterResult without = cluster::RunInProcCluster(off, stop);
  ASSERT_TRUE(without.Overall().ok()) << without.Overall();
  const cluster::InProcClusterResult with = cluster::RunInProcCluster(spec, stop);
  ASSERT_TRUE(with.Overall().ok()) << with.Overall();

  ASSERT_EQ(with.adapters.size(), without.adapters.size());
  ASSERT_FALSE(with.adapters.empty());
  for (size_t w = 0; w < with.adapters.size(); ++w) {
    ASSERT_EQ(with.adapters[w].size(), without.adapters[w].size());
    for (size_t d = 0; d < with.adapters[w].size(); ++d) {
      EXPECT_EQ(with.adapters[w][d].params(), without.adapters[w][d].params())
          << "worker " << w << ", domain " << with.domain_names[d];
    }
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace iak::worker
