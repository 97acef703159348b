// The domain plan (JobSpec.domain_plan, worker/domain_plan.h) on a whole
// in-process cluster (scheduler, 2 PS, 2 workers) over MovieLens periods with
// two small ones: 1998 (~400 training samples) and 1999 (~1950) next to
// 2000-2003 and 2004-2007 (~16-17k each). The plan's batch sizes are the ones
// trained (rank 0's samples per adapter), the cold domains share one adapter
// (or fall back to the base), the evaluator and predictor follow the plan
// file, ranks end identical, and a resumed run equals an uninterrupted one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/inproc_cluster.h"
#include "job/job_spec.h"
#include "tests/testing/small_job.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/domain_plan.h"
#include "worker/domain_predictor.h"
#include "worker/evaluator.h"
#include "worker/job_data.h"
#include "worker/pretrain_job.h"

namespace iak::cluster {
namespace {

class DomainPlanClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/iak_domain_plan_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = new std::string(pattern);
    worker::PretrainJobOptions options;
    proto::JobSpec spec = Spec("pretrain", 2000);
    options.data = spec.data();
    options.model_dir = spec.model_dir();
    options.num_shards = 2;
    options.train.epochs = 1;
    StatusOr<worker::PretrainJobResult> result = worker::RunPretrainJob(options);
    ASSERT_TRUE(result.ok()) << result.status();
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf " + *dir_).c_str());
    delete dir_;
  }

  // 40 compression + 20 matching steps at batch 128 per worker; periods
  // 1996-1997 (pre-training), 1998, 1999, 2000-2003, 2004-2007. Checkpoints
  // every 10 steps; frozen-prefix cache off (bit-identical resume, as in
  // resume_test).
  static proto::JobSpec Spec(const std::string& run, int64_t min_train_samples) {
    proto::JobSpec spec =
        testing_util::SmallMovieLensJob("plan-test", *dir_ + "/model", *dir_ + "/" + run);
    for (int b : {1996, 1998, 1999, 2000, 2004, 2008}) spec.mutable_data()->add_period_bounds(b);
    spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
    spec.mutable_checkpoint()->set_every_n_steps(10);
    spec.mutable_domain_plan()->set_enabled(true);
    spec.mutable_domain_plan()->set_min_train_samples(min_train_samples);
    // The plan's mechanics (batches, shared adapters, steps per adapter), not
    // validation's selection (trainer_test), which could keep the base or
    // stop an adapter early.
    spec.mutable_validation()->set_disabled(true);
    job::ApplyDefaults(&spec);
    return spec;
  }

  // The plan computed here from the job's data, independently of the worker.
  static worker::DomainPlan ExpectedPlan(const proto::JobSpec& spec) {
    StatusOr<worker::JobData> job = worker::LoadJobData(spec.data());
    EXPECT_TRUE(job.ok()) << job.status();
    std::vector<worker::DomainCounts> counts;
    for (int d : job->finetune_domains) {
      worker::DomainCounts c;
      c.name = job->dataset.domain_names[d];
      c.train_samples = static_cast<int64_t>(job->splits[d].train.size());
      for (uint32_t id : job->splits[d].validation) {
        c.validation_positives += job->dataset.click[id] > 0.5f;
      }
      counts.push_back(c);
    }
    worker::DomainPlanOptions o;
    o.base_batch = spec.batch_size();
    o.min_batch = spec.domain_plan().min_batch();
    o.min_train_samples = spec.domain_plan().min_train_samples();
    o.min_validation_positives = spec.domain_plan().min_validation_positives();
    StatusOr<worker::DomainPlan> plan = worker::PlanDomains(counts, o);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return *plan;
  }

  static std::string* dir_;
};

std::string* DomainPlanClusterTest::dir_ = nullptr;

TEST_F(DomainPlanClusterTest, SmallDomainsShareAnAdapterAtTheirOwnBatchAndResumeIsExact) {
  const proto::JobSpec spec = Spec("shared", 2000);
  ASSERT_TRUE(job::Validate(spec).ok()) << job::Validate(spec);
  const worker::DomainPlan expected = ExpectedPlan(spec);
  ASSERT_EQ(expected.domains.size(), 4u);
  // 1998 and 1999 are cold, together above 2000 samples: one shared adapter
  // at a batch well below 128; the big periods keep (nearly) the full batch.
  EXPECT_EQ(expected.domains[0].mode, worker::DomainMode::kSharedAdapter);
  EXPECT_EQ(expected.domains[1].mode, worker::DomainMode::kSharedAdapter);
  EXPECT_LT(expected.shared_batch_size, 80);
  EXPECT_GE(expected.domains[2].batch_size, 120);

  std::atomic<bool> stop{false};
  InProcClusterResult run = RunInProcCluster(spec, stop);
  ASSERT_TRUE(run.Overall().ok()) << run.Overall();
  const std::vector<std::string> names = {"shared:" + expected.domains[0].name + "+" +
                                              expected.domains[1].name,
                                          expected.domains[2].name, expected.domains[3].name};
  EXPECT_EQ(run.domain_names, names);
  for (int w = 0; w < 2; ++w) {
    EXPECT_EQ(run.steps_done[w], 60);
    ASSERT_EQ(run.adapters[w].size(), 3u);
    for (size_t a = 0; a < 3; ++a) {
      EXPECT_EQ(run.adapters[w][a].params(), run.adapters[0][a].params()) << "adapter " << a;
    }
  }

  // The plan file: each domain's adapter, and what rank 0 trained with it.
  const std::string adapters_dir = spec.output_dir() + "/adapters";
  StatusOr<std::vector<worker::AdapterPlanRow>> rows = worker::LoadAdapterPlan(adapters_dir);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const worker::AdapterPlanRow& r = (*rows)[i];
    EXPECT_EQ(r.domain, expected.domains[i].name);
    EXPECT_EQ(r.batch_size, expected.domains[i].batch_size) << r.domain;
    EXPECT_NEAR(r.lr_scale, expected.domains[i].lr_scale, 1e-6) << r.domain;
    // 60 steps round-robin over 3 adapters; each within its first epoch on
    // rank 0's shard, so every batch is full: samples = steps x planned batch.
    EXPECT_EQ(r.steps, 20) << r.domain;
    EXPECT_EQ(r.samples, 20 * expected.domains[i].batch_size) << r.domain;
  }
  EXPECT_EQ((*rows)[0].mode, "shared");
  EXPECT_EQ((*rows)[0].adapter, names[0]);
  EXPECT_EQ((*rows)[1].adapter, names[0]);
  EXPECT_EQ((*rows)[2].mode, "own");
  EXPECT_TRUE(std::filesystem::exists(worker::AdapterPath(adapters_dir, names[0])));
  EXPECT_FALSE(std::filesystem::exists(worker::AdapterPath(adapters_dir, (*rows)[0].domain)));

  // The evaluator scores the cold domains with the shared adapter and says so.
  StatusOr<worker::EvalReport> report = worker::EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 4u);
  EXPECT_EQ(report->domains[0].adapter_note, "shared adapter " + names[0]);
  EXPECT_EQ(report->domains[1].adapter_note, "shared adapter " + names[0]);
  EXPECT_EQ(report->domains[2].adapter_note, "");
  EXPECT_NE(report->domains[0].iak_auc, report->domains[0].base_auc);
  EXPECT_NE(report->ToTable().find("shared adapter " + names[0]), std::string::npos)
      << report->ToTable();
  // The loader reads the shared unit once for both cold domains.
  std::vector<std::string> domains;
  for (const worker::DomainResult& d : report->domains) domains.push_back(d.domain);
  StatusOr<std::unique_ptr<worker::JobModels>> models = worker::LoadJobModels(spec, domains);
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_NE((*models)->adapters[0], nullptr);
  EXPECT_EQ((*models)->adapters[0], (*models)->adapters[1]);
  EXPECT_NE((*models)->adapters[0], (*models)->adapters[2]);
  EXPECT_EQ((*models)->num_adapters, 4);

  // Resume with the plan on: a run cut after the compression phase, resumed
  // with the full plan, equals the uninterrupted run bit for bit.
  proto::JobSpec cut = Spec("resumed", 2000);
  cut.mutable_phases()->RemoveLast();
  InProcClusterResult first = RunInProcCluster(cut, stop);
  ASSERT_TRUE(first.Overall().ok()) << first.Overall();
  EXPECT_EQ(first.steps_done[0], 40);
  proto::JobSpec resumed = Spec("resumed", 2000);
  resumed.mutable_checkpoint()->set_resume(true);
  InProcClusterResult second = RunInProcCluster(resumed, stop);
  ASSERT_TRUE(second.Overall().ok()) << second.Overall();
  EXPECT_EQ(second.domain_names, names);
  for (int w = 0; w < 2; ++w) {
    EXPECT_EQ(second.steps_done[w], 60);
    ASSERT_EQ(second.adapters[w].size(), 3u);
    for (size_t a = 0; a < 3; ++a) {
      EXPECT_EQ(second.adapters[w][a].params(), run.adapters[w][a].params())
          << "worker " << w << " adapter " << a;
    }
  }
  // The resumed run's plan file counts the replayed steps too.
  StatusOr<std::vector<worker::AdapterPlanRow>> resumed_rows =
      worker::LoadAdapterPlan(resumed.output_dir() + "/adapters");
  ASSERT_TRUE(resumed_rows.ok()) << resumed_rows.status();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*resumed_rows)[i].samples, (*rows)[i].samples) << (*rows)[i].domain;
  }
}

TEST_F(DomainPlanClusterTest, AColdDomainTooSmallToShareIsServedByTheBaseModel) {
  // Only 1998 is cold (< 500 training samples), alone too few for a shared
  // adapter: the base model serves it.
  proto::JobSpec spec = Spec("base", 500);
  spec.mutable_phases(0)->set_steps(6);
  spec.mutable_phases(1)->set_steps(3);
  const worker::DomainPlan expected = ExpectedPlan(spec);
  ASSERT_EQ(expected.domains[0].mode, worker::DomainMode::kBaseModel);
  std::atomic<bool> stop{false};
  InProcClusterResult run = RunInProcCluster(spec, stop);
  ASSERT_TRUE(run.Overall().ok()) << run.Overall();
  ASSERT_EQ(run.domain_names.size(), 3u);
  EXPECT_EQ(run.domain_names[0], expected.domains[1].name);

  StatusOr<worker::EvalReport> report = worker::EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 4u);
  const worker::DomainResult& cold = report->domains[0];
  EXPECT_EQ(cold.adapter_note,
            "base model (cold: " + std::to_string(cold.train_samples) + " training samples < 500)");
  EXPECT_EQ(cold.iak_auc, cold.base_auc);
  EXPECT_EQ(report->domains[1].adapter_note, "");

  // iak predict's loader: no adapter for the cold domain, its own for the others.
  std::vector<std::string> domains;
  for (const worker::DomainPlanEntry& e : expected.domains) domains.push_back(e.name);
  StatusOr<std::unique_ptr<worker::JobModels>> models = worker::LoadJobModels(spec, domains);
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_EQ((*models)->adapters[0], nullptr);
  ASSERT_NE((*models)->adapters[1], nullptr);
  EXPECT_EQ((*models)->adapters[1]->params(), run.adapters[0][0].params());
  EXPECT_EQ((*models)->num_adapters, 3);
}

TEST(DomainPlanSpecTest, ElasticJobsRefuseThePlanAndBadKnobsAreNamed) {
  proto::JobSpec spec;
  spec.set_model_dir("m");
  spec.mutable_domain_plan()->set_enabled(true);
  job::ApplyDefaults(&spec);
  EXPECT_EQ(spec.domain_plan().min_batch(), 32);
  EXPECT_EQ(spec.domain_plan().reference(), "median");
  EXPECT_EQ(spec.domain_plan().min_train_samples(), 200);
  ASSERT_TRUE(job::Validate(spec).ok()) << job::Validate(spec);

  proto::JobSpec elastic = spec;
  elastic.mutable_elastic()->set_enabled(true);
  job::ApplyDefaults(&elastic);
  Status refused = job::Validate(elastic);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.ToString().find("uniform batch_size"), std::string::npos) << refused;

  proto::JobSpec bad = spec;
  bad.mutable_domain_plan()->set_reference("mean");
  EXPECT_NE(job::Validate(bad).ToString().find("domain_plan.reference"), std::string::npos);
  bad = spec;
  bad.mutable_domain_plan()->set_min_batch(1000);
  EXPECT_NE(job::Validate(bad).ToString().find("domain_plan.min_batch"), std::string::npos);
}

}  // namespace
}  // namespace iak::cluster
