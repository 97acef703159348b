// A whole fine-tuning job on GPU workers (launcher.gpus_per_worker = 1: the
// trainer's CUDA step engine) against the same job on the CPU engine: the
// in-process cluster (scheduler, 2 PS, 1 worker), the same seed and data, so
// the adapters differ only by float rounding (cuBLAS and OpenBLAS sum in
// other orders). Skips without a device.
#include <gtest/gtest.h>

#include <atomic>

#include "cluster/inproc_cluster.h"
#include "job/job_spec.h"
#include "tests/cuda/gpu_test_util.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"

namespace iak::cluster {
namespace {

proto::JobSpec Job(const testing_util::TempDir& dir, const std::string& run, int gpus) {
  proto::JobSpec spec = testing_util::SmallMovieLensJob("gpu-job", dir.path() + "/model",
                                                        dir.path() + "/" + run);
  spec.set_num_workers(1);
  spec.mutable_launcher()->set_gpus_per_worker(gpus);
  // The GPU engine starts from x; the CPU one too without the cache.
  spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
  // Validation selects by exact AUC comparisons, which rounding could tip:
  // compare the trained adapters themselves.
  spec.mutable_validation()->set_disabled(true);
  job::ApplyDefaults(&spec);
  return spec;
}

TEST(GpuJobTest, AdaptersTrainedOnTheGpuMatchTheCpuJob) {
  IAK_SKIP_WITHOUT_GPU();
  testing_util::TempDir dir("iak_gpu_job_test");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(testing_util::PretrainSmallModel(Job(dir, "pretrain", 0)).ok());
  std::atomic<bool> stop{false};
  InProcClusterResult cpu = RunInProcCluster(Job(dir, "cpu", 0), stop);
  ASSERT_TRUE(cpu.Overall().ok()) << cpu.Overall();
  InProcClusterResult gpu = RunInProcCluster(Job(dir, "gpu", 1), stop);
  ASSERT_TRUE(gpu.Overall().ok()) << gpu.Overall();
  ASSERT_EQ(gpu.adapters[0].size(), cpu.adapters[0].size());
  for (size_t d = 0; d < cpu.adapters[0].size(); ++d) {
    cuda::testing::ExpectVectorsNear(gpu.adapters[0][d].params(), cpu.adapters[0][d].params(),
                                     "adapter " + cpu.domain_names[d], 1e-3);
  }
}

}  // namespace
}  // namespace iak::cluster
