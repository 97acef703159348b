// A whole cluster (scheduler, 2 PS, 2 workers) as threads of this process
// over the in-process transport, on the bundled MovieLens data.
#include "cluster/inproc_cluster.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>

#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/evaluator.h"
#include "worker/local_lookup.h"

namespace iak::cluster {
namespace {

class InProcClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_cluster_test");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(BaseSpec());
    ASSERT_TRUE(pretrained.ok()) << pretrained;
  }
  static void TearDownTestSuite() { delete dir_; }

  static proto::JobSpec BaseSpec() {
    proto::JobSpec spec = testing_util::SmallMovieLensJob("inproc-test", dir_->path() + "/model",
                                                          dir_->path() + "/out");
    job::ApplyDefaults(&spec);
    return spec;
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* InProcClusterTest::dir_ = nullptr;

TEST_F(InProcClusterTest, TrainsOneAdapterPerDomainIdenticalOnEveryWorker) {
  proto::JobSpec spec = BaseSpec();
  // Frequent heartbeats, so the scheduler's metrics see the workers' stats.
  spec.mutable_timeouts()->set_heartbeat_interval_ms(20);
  ASSERT_TRUE(job::Validate(spec).ok());
  std::atomic<bool> stop{false};
  scheduler::JobMetrics metrics(spec.name());
  InProcClusterResult result = RunInProcCluster(spec, stop, &metrics);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();

  // The scheduler's metrics saw the whole job.
  const std::string prometheus = metrics.RenderPrometheus();
  EXPECT_NE(prometheus.find("iak_job_state{job=\"inproc-test\",state=\"finished\"} 1"),
            std::string::npos) << prometheus;
  EXPECT_NE(prometheus.find("iak_nodes{job=\"inproc-test\",role=\"worker\",status=\"left\"} 2"),
            std::string::npos) << prometheus;
  EXPECT_NE(prometheus.find("iak_nodes{job=\"inproc-test\",role=\"server\",status=\"left\"} 2"),
            std::string::npos) << prometheus;
  // Workers report their pull latency in heartbeats (a positive moving average).
  const std::string latency = "iak_worker_pull_latency_ms{job=\"inproc-test\",worker=\"worker-0\"} ";
  const size_t at = prometheus.find(latency);
  ASSERT_NE(at, std::string::npos) << prometheus;
  EXPECT_GT(std::strtod(prometheus.c_str() + at + latency.size(), nullptr), 0.0) << prometheus;

  // Both phases ran to the step, on both workers.
  EXPECT_EQ(result.steps_done[0], 60);
  EXPECT_EQ(result.steps_done[1], 60);
  // The four later periods each got an adapter.
  ASSERT_EQ(result.domain_names.size(), 4u);
  EXPECT_EQ(result.domain_names[0], "2004-2007");
  ASSERT_EQ(result.adapters[0].size(), 4u);
  // Averaged gradients keep the workers' adapters bit-identical.
  for (size_t d = 0; d < 4; ++d) {
    EXPECT_EQ(result.adapters[0][d].params(), result.adapters[1][d].params()) << "domain " << d;
  }
  // Training moved the decoder away from its zero start.
  const model::IakModule& adapter = result.adapters[0][0];
  const model::ParamRange decoder = adapter.decoder_param_range();
  double moved = 0;
  for (size_t i = decoder.begin; i < decoder.end; ++i) moved += std::fabs(adapter.params()[i]);
  EXPECT_GT(moved, 0.0);

  // Rank 0 wrote the adapters; evaluation reads them back and scores every domain.
  StatusOr<worker::EvalReport> report = worker::EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 4u);
  for (const worker::DomainResult& d : report->domains) {
    EXPECT_GT(d.test_samples, 1000);
    EXPECT_GT(d.base_auc, 0.5);
    EXPECT_LT(d.base_auc, 1.0);
    EXPECT_GT(d.iak_auc, 0.5);
  }
}

// Rank 0's validation records travel in its heartbeats to the scheduler's
// /metrics: one AUC per domain (base, tuned, best), the final evaluation's
// included (the last heartbeat goes with the clean deregistration, so this
// holds at the default heartbeat interval, however short the job).
TEST_F(InProcClusterTest, MetricsShowEachDomainsValidation) {
  proto::JobSpec spec = BaseSpec();
  spec.set_output_dir(dir_->path() + "/out-metrics");
  ASSERT_TRUE(job::Validate(spec).ok());
  std::atomic<bool> stop{false};
  scheduler::JobMetrics metrics(spec.name());
  InProcClusterResult result = RunInProcCluster(spec, stop, &metrics);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  ASSERT_EQ(result.domain_names.size(), 4u);

  const std::string text = metrics.RenderPrometheus();
  // The value of the one sample line starting with `prefix`; NaN if none or several.
  auto sample = [&text](const std::string& prefix) {
    const size_t at = text.find("\n" + prefix);
    if (at == std::string::npos || text.find("\n" + prefix, at + 1) != std::string::npos) {
      return std::nan("");
    }
    return std::strtod(text.c_str() + at + 1 + prefix.size(), nullptr);
  };
  for (const std::string& domain : result.domain_names) {
    const std::string labels = "{job=\"inproc-test\",domain=\"" + domain + "\"";
    for (const char* model : {"base", "tuned", "best"}) {
      const double auc = sample("iak_domain_auc" + labels + ",model=\"" + model + "\"} ");
      // A real AUC (the small model's is near 0.5 on the latest period).
      EXPECT_GT(auc, 0.0) << domain << " " << model << "\n" << text;
      EXPECT_LT(auc, 1.0) << domain << " " << model;
    }
    EXPECT_GE(sample("iak_domain_auc" + labels + ",model=\"best\"} "),
              sample("iak_domain_auc" + labels + ",model=\"base\"} ")) << domain;
    EXPECT_GT(sample("iak_domain_logloss" + labels + ",model=\"tuned\"} "), 0.0) << domain;
    // Validation every 50 steps and at the end of the 60-step plan.
    EXPECT_EQ(sample("iak_domain_validation_step" + labels + "} "), 60.0) << domain;
    EXPECT_EQ(sample("iak_domain_stopped" + labels + "} "), 0.0) << domain;
  }
  // Nothing but the job's four domains.
  size_t tuned = 0;
  for (size_t at = 0; (at = text.find("model=\"tuned\"", at)) != std::string::npos; ++at) {
    ++tuned;
  }
  EXPECT_EQ(tuned, 4u * 2) << text;  // an AUC and a log loss per domain
}

TEST_F(InProcClusterTest, MatchingPhaseLeavesTheEncoderFrozen) {
  proto::JobSpec spec = BaseSpec();
  spec.set_output_dir(dir_->path() + "/out-matching");
  spec.mutable_phases(0)->set_steps(0);  // matching only
  std::atomic<bool> stop{false};
  InProcClusterResult result = RunInProcCluster(spec, stop);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();

  // A fresh adapter initialised as the workers do: the encoder must be unchanged.
  const model::IakModule& trained = result.adapters[0][0];
  model::IakModule fresh(trained.config());
  fresh.Init(spec.seed() + 1000003ULL * 1);
  const model::ParamRange encoder = trained.encoder_param_range();
  for (size_t i = encoder.begin; i < encoder.end; ++i) {
    ASSERT_EQ(trained.params()[i], fresh.params()[i]) << "encoder parameter " << i << " moved";
  }
}

TEST_F(InProcClusterTest, MissingModelDirectoryFailsWithAClearErrorNotAHang) {
  proto::JobSpec spec = BaseSpec();
  spec.set_model_dir(dir_->path() + "/no-such-model");
  spec.mutable_timeouts()->set_startup_timeout_ms(3000);
  spec.mutable_timeouts()->set_heartbeat_timeout_ms(3000);
  std::atomic<bool> stop{false};
  InProcClusterResult result = RunInProcCluster(spec, stop);
  Status overall = result.Overall();
  ASSERT_FALSE(overall.ok());
  EXPECT_NE(overall.ToString().find("no-such-model"), std::string::npos) << overall;
}

}  // namespace
}  // namespace iak::cluster
