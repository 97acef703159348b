// Key biases on a whole in-process cluster (scheduler, 2 PS, 2 workers) on
// the bundled MovieLens data: every worker trains the same adapter and
// biases; the biases written are exactly keys of the named fields; the
// trainer's validation, `iak eval` and `iak predict` score them alike; a job
// resumed from a checkpoint ends with the biases of an uninterrupted one.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "cluster/inproc_cluster.h"
#include "cluster/validation_report.h"
#include "common/file_util.h"
#include "data/split.h"
#include "job/job_spec.h"
#include "model/metrics.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/domain_predictor.h"
#include "worker/evaluator.h"
#include "worker/job_data.h"
#include "worker/key_biases.h"

namespace iak::cluster {
namespace {

class KeyBiasesClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_key_biases_cluster_test");
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
  // biases for users and movies; a checkpoint every 10 steps.
  static proto::JobSpec Spec(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(
        "key-biases-test", dir_->path() + "/model", dir_->path() + "/" + run);
    proto::KeyBiasesSpec* biases = spec.mutable_iak()->mutable_key_biases();
    biases->set_enabled(true);
    biases->add_fields("user");
    biases->add_fields("movie");
    spec.mutable_checkpoint()->set_every_n_steps(10);
    spec.mutable_validation()->set_every_n_steps(10);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static testing_util::TempDir* dir_;
  static InProcClusterResult* reference_;
};

testing_util::TempDir* KeyBiasesClusterTest::dir_ = nullptr;
InProcClusterResult* KeyBiasesClusterTest::reference_ = nullptr;

TEST_F(KeyBiasesClusterTest, WorkersAgreeAndBiasesAreKeysOfTheNamedFields) {
  ASSERT_TRUE(reference_->Overall().ok()) << reference_->Overall();
  ASSERT_EQ(reference_->method_params.size(), 2u);
  ASSERT_EQ(reference_->method_params[0].size(), 4u);
  EXPECT_EQ(reference_->method_params[0], reference_->method_params[1]);
  const proto::JobSpec spec = Spec("reference");
  StatusOr<worker::JobData> job = worker::LoadJobData(spec.data());
  ASSERT_TRUE(job.ok()) << job.status();
  // Every key of the user and movie fields (keys are field-qualified).
  std::unordered_set<uint64_t> named;
  int fields = 0;
  for (int f = 0; f < job->dataset.num_fields(); ++f) {
    const std::string& name = job->dataset.fields[static_cast<size_t>(f)].name;
    if (name != "user" && name != "movie") continue;
    ++fields;
    for (size_t s = 0; s < job->dataset.size(); ++s) {
      size_t count = 0;
      const uint64_t* keys = job->dataset.FieldKeys(s, f, &count);
      named.insert(keys, keys + count);
    }
  }
  ASSERT_EQ(fields, 2);
  for (size_t d = 0; d < reference_->domain_names.size(); ++d) {
    const std::string& domain = reference_->domain_names[d];
    StatusOr<std::unique_ptr<worker::KeyBiases>> biases =
        worker::LoadKeyBiasesIfAny(spec.output_dir() + "/adapters", domain);
    ASSERT_TRUE(biases.ok()) << biases.status();
    ASSERT_NE(*biases, nullptr) << domain;
    ASSERT_GT((*biases)->num_values(), 0u);
    // The trained values: the adapter's, then the biases.
    EXPECT_EQ(reference_->method_params[0][d].size(),
              reference_->adapters[0][d].num_params() + (*biases)->num_values());
    EXPECT_TRUE(std::equal((*biases)->values().begin(), (*biases)->values().end(),
                           reference_->method_params[0][d].end() -
                               static_cast<std::ptrdiff_t>((*biases)->num_values())));
    for (uint64_t key : (*biases)->keys()) {
      EXPECT_EQ(named.count(key), 1u) << domain << ": key " << key << " of another field";
    }
  }
}

// Three scorings of the same biases agree: the trainer's validation (its
// best point, the parameters it wrote; validation.json holds 6 decimals),
// `iak eval` on the validation split, and the predictor (mixed domains and
// per domain) on the test split against `iak eval` there.
TEST_F(KeyBiasesClusterTest, TrainerEvaluationAndPredictionScoreTheBiasesAlike) {
  ASSERT_TRUE(reference_->Overall().ok());
  const proto::JobSpec spec = Spec("reference");
  std::string json;
  ASSERT_TRUE(ReadFileToString(spec.output_dir() + "/validation.json", &json).ok());
  StatusOr<std::vector<UnitValidationRow>> units = ParseValidationJson(json);
  ASSERT_TRUE(units.ok()) << units.status();
  StatusOr<worker::EvalReport> validation =
      worker::EvaluateJob(spec, data::SplitPart::kValidation);
  ASSERT_TRUE(validation.ok()) << validation.status();
  int compared = 0;
  for (const UnitValidationRow& unit : *units) {
    for (const worker::DomainResult& d : validation->domains) {
      if (d.domain != unit.unit || unit.kept_base || unit.curve.empty()) continue;
      EXPECT_NEAR(d.iak_auc, unit.best_auc, 1e-6) << d.domain;
      EXPECT_NE(d.iak_auc, d.base_auc) << d.domain;
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);

  StatusOr<worker::EvalReport> test = worker::EvaluateJob(spec, data::SplitPart::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  StatusOr<worker::JobData> job = worker::LoadJobData(spec.data());
  ASSERT_TRUE(job.ok()) << job.status();
  StatusOr<std::unique_ptr<worker::JobModels>> models =
      worker::LoadJobModels(spec, job->dataset.domain_names);
  ASSERT_TRUE(models.ok()) << models.status();
  StatusOr<worker::DomainPredictor> predictor = (*models)->MakePredictor();
  ASSERT_TRUE(predictor.ok()) << predictor.status();
  data::SampleIds ids;
  for (int d : job->finetune_domains) {
    ids.insert(ids.end(), job->splits[d].test.begin(), job->splits[d].test.end());
  }
  std::sort(ids.begin(), ids.end());  // domains mixed, as `iak predict --input=test`
  for (bool mixed : {true, false}) {
    worker::PredictOptions options;
    options.mixed = mixed;
    std::vector<float> p(ids.size());
    ASSERT_TRUE(worker::PredictSamples(job->dataset, ids, *(*models)->rows, options,
                                       &*predictor, p.data(), nullptr, (*models)->DomainRows(),
                                       (*models)->DomainBiases())
                    .ok());
    for (const worker::DomainResult& r : test->domains) {
      std::vector<float> scores, labels;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (job->dataset.domain_names[job->dataset.domain[ids[i]]] != r.domain) continue;
        scores.push_back(p[i]);
        labels.push_back(job->dataset.click[ids[i]]);
      }
      StatusOr<double> auc = model::RocAuc(scores, labels);
      ASSERT_TRUE(auc.ok()) << r.domain;
      EXPECT_NEAR(*auc, r.iak_auc, 1e-6) << r.domain << (mixed ? " mixed" : " per domain");
    }
  }
}

// Cut after the compression phase, then resumed with the full plan: the
// adapters and biases equal the uninterrupted run's bit for bit.
TEST_F(KeyBiasesClusterTest, ResumeRestoresTheBiasesBitForBit) {
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
