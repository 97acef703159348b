// The one Trainer in one process (worker/local_training.h) on the bundled
// MovieLens data: validation while training keeps each domain's best point,
// keeps the base where training only hurts, and stops a domain that stopped
// improving while the others go on.
#include "worker/trainer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "model/metrics.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/adapter_model.h"
#include "worker/local_lookup.h"
#include "worker/local_training.h"
#include "worker/validation.h"

namespace iak::worker {
namespace {

class TrainerTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_trainer_test");
    ASSERT_TRUE(dir_->ok());
    const proto::JobSpec spec = Spec();
    ASSERT_TRUE(testing_util::PretrainSmallModel(spec).ok());
    StatusOr<TrainingInputs> inputs = LoadTrainingInputs(spec);
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    inputs_ = new TrainingInputs(std::move(*inputs));
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(inputs_->model_dir);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = table->release();
    rows_ = new LocalLookup(table_);
  }
  static void TearDownTestSuite() {
    delete rows_;
    delete table_;
    delete inputs_;
    delete dir_;
  }

  // 60 steps round-robin over the 4 later periods, validation every 10.
  static proto::JobSpec Spec() {
    proto::JobSpec spec = testing_util::SmallMovieLensJob("trainer-test", dir_->path() + "/model",
                                                          dir_->path() + "/out");
    spec.mutable_validation()->set_every_n_steps(10);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static std::unique_ptr<LocalTraining> Train(const proto::JobSpec& spec) {
    auto run = std::make_unique<LocalTraining>(spec, inputs_, rows_);
    const std::atomic<bool> never(false);
    const Status trained = run->Run(never);
    EXPECT_TRUE(trained.ok()) << trained;
    return run;
  }

  static std::vector<float> Scores(DomainModel* model, const data::SampleIds& ids) {
    std::vector<float> p(ids.size());
    EXPECT_TRUE(model->Score(ids.data(), static_cast<int>(ids.size()), p.data(), nullptr).ok());
    return p;
  }

  static testing_util::TempDir* dir_;
  static TrainingInputs* inputs_;
  static embedding::LocalEmbeddingTable* table_;
  static LocalLookup* rows_;
};

testing_util::TempDir* TrainerTest::dir_ = nullptr;
TrainingInputs* TrainerTest::inputs_ = nullptr;
embedding::LocalEmbeddingTable* TrainerTest::table_ = nullptr;
LocalLookup* TrainerTest::rows_ = nullptr;

// Each domain ends with the parameters of its best validation point, and the
// record's best AUC is what those parameters score.
TEST_F(TrainerTest, EachDomainEndsAtItsBestValidationPoint) {
  std::unique_ptr<LocalTraining> run = Train(Spec());
  Trainer& trainer = run->trainer();
  ASSERT_EQ(trainer.units().size(), 4u);
  for (size_t u = 0; u < 4; ++u) {
    const proto::UnitValidation& v = trainer.units()[u].validation;
    ASSERT_TRUE(v.evaluated());
    ASSERT_TRUE(SelectsBest(v));
    EXPECT_GE(v.curve_size(), 2) << v.unit();
    EXPECT_EQ(v.curve(0).global_step(), 0);
    EXPECT_DOUBLE_EQ(v.curve(0).auc(), v.base_auc());
    double best = v.base_auc();
    for (const proto::ValidationPoint& p : v.curve()) best = std::max(best, p.auc());
    EXPECT_DOUBLE_EQ(v.best_auc(), best) << v.unit();
    EXPECT_EQ(trainer.model(static_cast<int>(u))->Params(),
              std::vector<float>(v.best_params().begin(), v.best_params().end()));
    const data::SampleIds& ids =
        inputs_->job.splits[inputs_->job.finetune_domains[u]].validation;
    const std::vector<float> p = Scores(trainer.model(static_cast<int>(u)), ids);
    std::vector<float> labels(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) labels[i] = inputs_->job.dataset.click[ids[i]];
    StatusOr<double> auc = model::RocAuc(p, labels);
    ASSERT_TRUE(auc.ok());
    EXPECT_DOUBLE_EQ(*auc, v.best_auc()) << v.unit();
  }
}

// JobSpec.compute_threads splits the step over that many threads: a run is
// the same bits for the same count, and another count sums in another order.
TEST_F(TrainerTest, ComputeThreadsComeFromTheSpec) {
  proto::JobSpec spec = Spec();
  spec.set_compute_threads(3);
  std::unique_ptr<LocalTraining> three = Train(spec);
  std::unique_ptr<LocalTraining> again = Train(spec);
  spec.set_compute_threads(1);
  std::unique_ptr<LocalTraining> one = Train(spec);
  bool any_differs = false;
  for (size_t u = 0; u < three->trainer().units().size(); ++u) {
    const std::vector<float> p3 = three->trainer().model(static_cast<int>(u))->Params();
    EXPECT_EQ(p3, again->trainer().model(static_cast<int>(u))->Params()) << "unit " << u;
    any_differs = any_differs || p3 != one->trainer().model(static_cast<int>(u))->Params();
    const proto::UnitValidation& v = one->trainer().units()[u].validation;
    EXPECT_GE(v.best_auc(), v.base_auc()) << "unit " << u;
  }
  EXPECT_TRUE(any_differs) << "one and three threads trained the same bits: the field was ignored";
}

// A learning rate that only hurts: no point beats the base, so every domain
// keeps the base exactly (the adapter's initial, identity parameters).
TEST_F(TrainerTest, TrainingThatOnlyHurtsKeepsTheBase) {
  proto::JobSpec spec = Spec();
  for (proto::PhaseCommand& phase : *spec.mutable_phases()) phase.set_learning_rate(5.0f);
  spec.mutable_validation()->set_patience(-1);
  std::unique_ptr<LocalTraining> run = Train(spec);
  Trainer& trainer = run->trainer();
  int kept = 0;
  for (size_t u = 0; u < trainer.units().size(); ++u) {
    const proto::UnitValidation& v = trainer.units()[u].validation;
    if (!KeptBase(v)) continue;
    ++kept;
    auto* adapter = dynamic_cast<AdapterModel*>(trainer.model(static_cast<int>(u)));
    ASSERT_NE(adapter, nullptr);
    model::IakModule fresh(adapter->adapter().config());
    fresh.Init(spec.seed() + 1000003ULL * static_cast<uint64_t>(
                                              inputs_->job.finetune_domains[u]));
    EXPECT_EQ(adapter->adapter().params(), fresh.params()) << v.unit();
    EXPECT_FALSE(v.stopped());  // patience -1: never stopped early
  }
  EXPECT_GE(kept, 2) << "a learning rate of 5 should not beat the base on most domains";
}

// Patience 1: a domain stops at its first evaluation without a gain and the
// remaining steps go to the others.
TEST_F(TrainerTest, ADomainWithoutGainStopsAndTheOthersTrainOn) {
  proto::JobSpec spec = Spec();
  for (proto::PhaseCommand& phase : *spec.mutable_phases()) phase.set_learning_rate(5.0f);
  spec.mutable_validation()->set_patience(1);
  std::unique_ptr<LocalTraining> run = Train(spec);
  const std::vector<TrainedUnit>& units = run->trainer().units();
  int64_t steps = 0;
  int stopped = 0;
  for (const TrainedUnit& unit : units) {
    steps += unit.steps;
    if (unit.validation.stopped()) {
      ++stopped;
      EXPECT_EQ(unit.validation.bad_evals(), 1) << unit.name;
      EXPECT_GT(unit.validation.stopped_at(), 0);
    }
  }
  EXPECT_GE(stopped, 1);
  // Steps after every domain stopped pass without training.
  EXPECT_LE(steps, 60);
}

// Validation off: the last parameters are the result and nothing is evaluated.
TEST_F(TrainerTest, WithoutValidationTheLastParametersStay) {
  proto::JobSpec spec = Spec();
  spec.mutable_validation()->set_disabled(true);
  std::unique_ptr<LocalTraining> run = Train(spec);
  for (const TrainedUnit& unit : run->trainer().units()) {
    EXPECT_FALSE(unit.validation.evaluated()) << unit.name;
    EXPECT_EQ(unit.steps, 15) << unit.name;  // 60 steps over 4 domains
  }
}

// A divergent learning rate fails the run at the first non-finite loss,
// naming the domain and the step, instead of writing NaN and succeeding.
TEST_F(TrainerTest, ADivergedRunFailsNamingTheDomain) {
  proto::JobSpec spec = Spec();
  for (proto::PhaseCommand& phase : *spec.mutable_phases()) phase.set_learning_rate(1e30f);
  LocalTraining run(spec, inputs_, rows_);
  const std::atomic<bool> never(false);
  const Status trained = run.Run(never);
  ASSERT_FALSE(trained.ok());
  EXPECT_NE(trained.message().find("diverged"), std::string::npos) << trained;
  EXPECT_NE(trained.message().find("the training loss of 20"), std::string::npos) << trained;
  EXPECT_NE(trained.message().find("global step"), std::string::npos) << trained;
}

}  // namespace
}  // namespace iak::worker
