// Pinned frozen rows inside real workers: a whole in-process cluster
// (scheduler, 2 PS, 2 workers) on the bundled MovieLens data, the
// frozen-prefix cache off so every epoch pools rows. With the rows kept once
// pulled (pinned_rows_mb, the default) the adapters are bit-identical to
// pulling every batch, and each worker pulls far fewer keys.
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

TEST(PinnedRowsClusterTest, SameAdaptersAsPullingEveryBatchFromFewerPulls) {
  char pattern[] = "/tmp/iak_pinned_rows_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  proto::JobSpec spec = testing_util::SmallMovieLensJob("pinned-rows-test", dir + "/model",
                                                        dir + "/out", /*batch_size=*/1024);
  spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
  job::ApplyDefaults(&spec);
  ASSERT_TRUE(job::Validate(spec).ok());
  ASSERT_EQ(job::PinnedRowsBudgetBytes(spec), uint64_t{256} << 20);

  PretrainJobOptions pretrain;
  pretrain.data = spec.data();
  pretrain.model_dir = spec.model_dir();
  pretrain.num_shards = spec.num_servers();
  pretrain.train.epochs = 1;
  ASSERT_TRUE(RunPretrainJob(pretrain).ok());

  std::atomic<bool> stop{false};
  proto::JobSpec per_batch = spec;
  per_batch.set_pinned_rows_mb(-1);
  const cluster::InProcClusterResult pulled = cluster::RunInProcCluster(per_batch, stop);
  ASSERT_TRUE(pulled.Overall().ok()) << pulled.Overall();
  const cluster::InProcClusterResult pinned = cluster::RunInProcCluster(spec, stop);
  ASSERT_TRUE(pinned.Overall().ok()) << pinned.Overall();

  ASSERT_EQ(pinned.adapters.size(), pulled.adapters.size());
  ASSERT_FALSE(pinned.adapters.empty());
  for (size_t w = 0; w < pinned.adapters.size(); ++w) {
    ASSERT_EQ(pinned.adapters[w].size(), pulled.adapters[w].size());
    for (size_t d = 0; d < pinned.adapters[w].size(); ++d) {
      EXPECT_EQ(pinned.adapters[w][d].params(), pulled.adapters[w][d].params())
          << "worker " << w << ", domain " << pinned.domain_names[d];
    }
    // Keys repeat across batches and epochs: pulled once each, they are a
    // small part of what pulling every batch asks for (validation scoring
    // still pulls per batch, in both runs).
    EXPECT_GT(pinned.keys_pulled[w], 0u);
    EXPECT_LT(pinned.keys_pulled[w] * 2, pulled.keys_pulled[w])
        << "worker " << w << ": " << pinned.keys_pulled[w] << " keys pinned vs "
        << pulled.keys_pulled[w] << " pulled per batch";
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace iak::worker
