// Every non-adapter fine-tuning method (JobSpec.method frozen, dense, lora,
// full) as a whole in-process cluster: scheduler, 2 PS and 2 workers as
// threads over the in-process transport, on the bundled MovieLens data.
#include "worker/dense_models.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "cluster/inproc_cluster.h"
#include "common/build_config.h"
#include "common/file_util.h"
#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "model/fine_tune_step.h"
#include "model/lora.h"
#include "model/metrics.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/domain_predictor.h"
#include "worker/evaluator.h"
#include "worker/exporter.h"
#include "worker/job_data.h"
#include "worker/local_lookup.h"
#include "worker/model_factory.h"
#include "worker/torch_export.h"

namespace iak::worker {
namespace {

class MethodsOnClusterTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_methods_cluster_test");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("iak"));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
  }
  static void TearDownTestSuite() { delete dir_; }

  static proto::JobSpec Spec(const std::string& method) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(
        "method-" + method, dir_->path() + "/model", dir_->path() + "/out-" + method);
    spec.set_method(method);
    // 60 steps per domain: enough for every domain's training loss to fall
    // (the jobs take a few seconds).
    spec.mutable_phases(0)->set_steps(160);
    spec.mutable_phases(1)->set_steps(80);
    // These tests check each method's training itself (the train loss must
    // fall); validation's selection is tested in trainer_test.
    spec.mutable_validation()->set_disabled(true);
    job::ApplyDefaults(&spec);
    return spec;
  }

  // Runs the job; logs its wall time per epoch of the domains' training data.
  static cluster::InProcClusterResult Run(const proto::JobSpec& spec) {
    std::atomic<bool> stop{false};
    const auto begin = std::chrono::steady_clock::now();
    cluster::InProcClusterResult result = cluster::RunInProcCluster(spec, stop);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    int64_t steps = 0;
    for (const proto::PhaseCommand& phase : spec.phases()) steps += phase.steps();
    std::cout << "method " << spec.method() << ": job " << seconds << " s for " << steps
              << " steps x " << spec.num_workers() << " workers x " << spec.batch_size()
              << " samples\n";
    return result;
  }

  // Mean log loss over the training split of each fine-tuned domain under
  // the written model (tuned) or the base, over frozen rows.
  static std::vector<double> TrainLoss(const proto::JobSpec& spec, bool tuned) {
    StatusOr<JobData> job = LoadJobData(spec.data());
    StatusOr<embedding::ModelDirectory> dir = embedding::LoadModelDirectory(spec.model_dir());
    EXPECT_TRUE(job.ok() && dir.ok());
    StatusOr<model::BaseModel> base = model::BaseModel::Deserialize(dir->dense_blob);
    StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
        embedding::LocalEmbeddingTable::Open(*dir);
    EXPECT_TRUE(base.ok() && table.ok());
    LocalLookup rows(table->get());
    std::vector<double> losses;
    for (int domain : job->finetune_domains) {
      model::BaseModel model = *base;
      if (tuned) {
        StatusOr<model::BaseModel> loaded =
            LoadMethodModel(spec.output_dir(), job->dataset.domain_names[domain]);
        EXPECT_TRUE(loaded.ok()) << loaded.status();
        model = *loaded;
      }
      const data::SampleIds& ids = job->splits[domain].train;
      std::vector<float> x(ids.size() * model.config().input_dim()), p(ids.size()),
          labels(ids.size());
      model::PoolBatch(job->dataset, ids.data(), static_cast<int>(ids.size()),
                       model.config().embedding_dim, rows, x.data());
      model::FineTuneStep step;
      step.Predict(model, nullptr, x.data(), static_cast<int>(ids.size()), p.data(), nullptr);
      for (size_t i = 0; i < ids.size(); ++i) labels[i] = job->dataset.click[ids[i]];
      losses.push_back(model::LogLoss(p.data(), labels.data(), ids.size()));
    }
    return losses;
  }

  // Every domain's train log loss under the written model is below the
  // base's (both printed).
  static void ExpectTrainLossFalls(const proto::JobSpec& spec,
                                   const std::vector<std::string>& domain_names) {
    const std::vector<double> before = TrainLoss(spec, false);
    const std::vector<double> after = TrainLoss(spec, true);
    for (size_t d = 0; d < 4; ++d) {
      std::cout << domain_names[d] << ": train log loss " << before[d] << " -> " << after[d]
                << "\n";
      EXPECT_LT(after[d], before[d]) << domain_names[d];
    }
  }

  static model::BaseModel BaseModel() {
    StatusOr<embedding::ModelDirectory> dir =
        embedding::LoadModelDirectory(dir_->path() + "/model");
    EXPECT_TRUE(dir.ok());
    StatusOr<model::BaseModel> base = model::BaseModel::Deserialize(dir->dense_blob);
    EXPECT_TRUE(base.ok());
    return *base;
  }

  static void PrintAuc(const proto::JobSpec& spec, const EvalReport& report) {
    std::cout << "method " << spec.method() << " test AUC per domain:\n" << report.ToTable();
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* MethodsOnClusterTest::dir_ = nullptr;

// "iak" and "plain" train adapters through the same worker and trainer.
TEST_F(MethodsOnClusterTest, IakAndPlainGoToTheAdapterWorker) {
  for (const std::string method : {"iak", "plain"}) {
    const proto::JobSpec spec = Spec(method);
    cluster::InProcClusterResult result = Run(spec);
    ASSERT_TRUE(result.Overall().ok()) << result.Overall();
    ASSERT_EQ(result.adapters[0].size(), 4u) << method;
    EXPECT_EQ(result.method_params[0][0], result.adapters[0][0].params()) << method;
    EXPECT_EQ(result.adapters[0][0].config().plain_adapter, method == "plain");
    EXPECT_EQ(result.adapters[0][0].params(), result.adapters[1][0].params());
    StatusOr<EvalReport> report = EvaluateJob(spec);
    ASSERT_TRUE(report.ok()) << report.status();
    PrintAuc(spec, *report);
  }
}

TEST_F(MethodsOnClusterTest, UnknownMethodIsAClearSpecErrorAndPlainMeansAPlainAdapter) {
  proto::JobSpec spec = Spec("iak");
  EXPECT_TRUE(job::Validate(spec).ok());
  spec.set_method("bogus");
  Status bad = job::Validate(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  for (const char* want : {"method", "bogus", "\"iak\"", "\"plain\"", "\"frozen\"", "\"dense\"",
                           "\"lora\"", "\"full\""}) {
    EXPECT_NE(bad.ToString().find(want), std::string::npos) << want << " in " << bad;
  }
  proto::JobSpec lora = Spec("lora");
  lora.mutable_lora()->set_rank(-1);
  Status bad_rank = job::Validate(lora);
  ASSERT_FALSE(bad_rank.ok());
  EXPECT_NE(bad_rank.ToString().find("rank >= 1"), std::string::npos) << bad_rank;
  proto::JobSpec unset;
  job::ApplyDefaults(&unset);
  EXPECT_EQ(unset.method(), "iak");
  EXPECT_FALSE(unset.iak().plain_adapter());
  EXPECT_TRUE(Spec("plain").iak().plain_adapter());
  EXPECT_TRUE(IsAdapterMethod("iak"));
  EXPECT_TRUE(IsAdapterMethod("plain"));
  EXPECT_FALSE(IsAdapterMethod("dense"));
}

TEST_F(MethodsOnClusterTest, Bf16BottomIsRefusedWhereItWouldNotApply) {
  proto::JobSpec spec = Spec("iak");
  spec.set_frozen_precision("bf16");
  spec.mutable_iak()->set_insertion("h");
  EXPECT_TRUE(CheckFrozenPrecision(spec).ok());
  for (const char* insertion : {"x", "tower"}) {
    spec.mutable_iak()->set_insertion(insertion);
    Status refused = CheckFrozenPrecision(spec);
    ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition) << insertion;
    for (const char* want : {"bf16", "iak.insertion", "\"h\"", "--demo_insertion=h", "fp32"}) {
      EXPECT_NE(refused.ToString().find(want), std::string::npos) << want << " in " << refused;
    }
  }
  // New-key rows and key biases train through the whole model in fp32.
  spec.mutable_iak()->set_insertion("h");
  for (bool rows : {true, false}) {
    proto::JobSpec keyed = spec;
    if (rows) {
      keyed.mutable_iak()->mutable_new_key_rows()->set_enabled(true);
    } else {
      keyed.mutable_iak()->mutable_key_biases()->set_enabled(true);
    }
    Status refused = CheckFrozenPrecision(keyed);
    ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition) << rows;
    for (const char* want : {"--demo_new_key_rows=false", "--demo_key_biases=false", "fp32"}) {
      EXPECT_NE(refused.ToString().find(want), std::string::npos) << want << " in " << refused;
    }
  }
  spec.mutable_launcher()->set_gpus_per_worker(1);
  Status gpu = CheckFrozenPrecision(spec);
  ASSERT_EQ(gpu.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(gpu.ToString().find("CPU workers"), std::string::npos) << gpu;
  // Other methods train in fp32 whatever the field says (the trainer warns).
  proto::JobSpec dense = Spec("dense");
  dense.set_frozen_precision("bf16");
  dense.mutable_iak()->set_insertion("x");
  EXPECT_TRUE(CheckFrozenPrecision(dense).ok());
  spec.set_frozen_precision("fp32");
  spec.mutable_iak()->set_insertion("x");
  EXPECT_TRUE(CheckFrozenPrecision(spec).ok());
}

// `iak export` of a dense-family job: the frozen base and each domain's
// written model, bit for bit, as models.<domain>.<layer>; the PyTorch export
// refuses it naming the method.
void ExpectExportHoldsEveryModel(const proto::JobSpec& spec, const std::vector<std::string>& domains,
                                 const model::BaseModel& frozen) {
  const std::string out = spec.output_dir() + "/export";
  StatusOr<ExportReport> exported = ExportJob(spec, out);
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_TRUE(exported->dense_models);
  std::vector<std::string> sorted = domains;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(exported->domains, sorted);
  std::string blob;
  ASSERT_TRUE(ReadFileToString(exported->path, &blob).ok());
  StatusOr<SafetensorsFile> file = DecodeSafetensors(blob, exported->path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata.at("method"), spec.method());
  std::map<std::string, std::vector<float>> values;
  for (const ExportTensor& t : file->tensors) values[t.name] = t.values;
  const std::vector<ExportTensor> base = BaseModelTensors(frozen);
  for (const ExportTensor& t : base) EXPECT_EQ(values.at(t.name), t.values) << t.name;
  for (const std::string& domain : domains) {
    StatusOr<model::BaseModel> written = LoadMethodModel(spec.output_dir(), domain);
    ASSERT_TRUE(written.ok()) << written.status();
    for (const ExportTensor& t : BaseModelTensors(*written)) {
      const std::string name = "models." + domain + "." + t.name;
      ASSERT_EQ(values.count(name), 1u) << name;
      EXPECT_EQ(values.at(name), t.values) << name;
    }
  }
  EXPECT_EQ(file->tensors.size(), base.size() * (1 + domains.size()));
  StatusOr<TorchExportReport> torch = ExportTorchModel(spec, out + "/torch", {});
  ASSERT_FALSE(torch.ok());
  EXPECT_EQ(torch.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(torch.status().message().find("method '" + spec.method() + "'"), std::string::npos)
      << torch.status();
}

// `iak predict` of a dense-family job (worker::LoadJobModels, the domain
// predictor): each domain's test samples, mixed with the others', score as
// `iak eval` scored them with the domain's own model (and, for full, its
// trained rows): the same AUC per domain.
void ExpectPredictionMatchesEvaluation(const proto::JobSpec& spec, const EvalReport& report) {
  StatusOr<JobData> job = LoadJobData(spec.data());
  ASSERT_TRUE(job.ok()) << job.status();
  StatusOr<std::unique_ptr<JobModels>> models = LoadJobModels(spec, job->dataset.domain_names);
  ASSERT_TRUE(models.ok()) << models.status();
  StatusOr<DomainPredictor> predictor = (*models)->MakePredictor();
  ASSERT_TRUE(predictor.ok()) << predictor.status();
  data::SampleIds ids;
  for (int d : job->finetune_domains) {
    ids.insert(ids.end(), job->splits[d].test.begin(), job->splits[d].test.end());
  }
  std::sort(ids.begin(), ids.end());  // domains mixed, as `iak predict --input=test`
  std::vector<float> p(ids.size());
  ASSERT_TRUE(PredictSamples(job->dataset, ids, *(*models)->rows, PredictOptions(), &*predictor,
                             p.data(), nullptr, (*models)->DomainRows())
                  .ok());
  for (const DomainResult& r : report.domains) {
    std::vector<float> scores, labels;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (job->dataset.domain_names[job->dataset.domain[ids[i]]] != r.domain) continue;
      scores.push_back(p[i]);
      labels.push_back(job->dataset.click[ids[i]]);
    }
    StatusOr<double> auc = model::RocAuc(scores, labels);
    ASSERT_TRUE(auc.ok()) << r.domain;
    EXPECT_NEAR(*auc, r.iak_auc, 1e-6) << r.domain;
  }
}

// GPU workers train adapters on h only: an adapter on x (the demo's) or on
// the tower is refused before any device is touched, naming the fields to
// change (without CUDA, GPU workers are refused as a whole).
TEST_F(MethodsOnClusterTest, GpuWorkersRefuseAdaptersOffH) {
  const model::BaseModel base = BaseModel();
  proto::JobSpec spec = Spec("iak");
  spec.mutable_launcher()->set_gpus_per_worker(1);
  for (const char* insertion : {"x", "tower"}) {
    spec.mutable_iak()->set_insertion(insertion);
    const Status refused = MakeAdapterStepEngine(spec, base, 1, 64).status();
    ASSERT_EQ(refused.code(), StatusCode::kFailedPrecondition) << insertion;
#if IAK_HAVE_CUDA
    EXPECT_NE(refused.message().find("launcher.gpus_per_worker"), std::string::npos) << refused;
#endif
  }
}

TEST_F(MethodsOnClusterTest, DenseTrainsOneModelPerDomainIdenticalOnEveryWorker) {
  const proto::JobSpec spec = Spec("dense");
  cluster::InProcClusterResult result = Run(spec);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  EXPECT_EQ(result.steps_done[0], 240);
  EXPECT_EQ(result.steps_done[1], 240);
  ASSERT_EQ(result.domain_names.size(), 4u);
  const model::BaseModel base = BaseModel();
  ASSERT_EQ(result.method_params[0].size(), 4u);
  for (size_t d = 0; d < 4; ++d) {
    // All-reduced gradients keep the ranks bit-identical; training moved them.
    EXPECT_EQ(result.method_params[0][d], result.method_params[1][d]) << "domain " << d;
    ASSERT_EQ(result.method_params[0][d].size(), base.num_params());
    EXPECT_NE(result.method_params[0][d], base.params()) << "domain " << d;
    // Rank 0 wrote exactly these weights.
    StatusOr<model::BaseModel> written = LoadMethodModel(spec.output_dir(), result.domain_names[d]);
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(written->params(), result.method_params[0][d]);
  }
  ExpectTrainLossFalls(spec, result.domain_names);
  StatusOr<EvalReport> report = EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 4u);
  EXPECT_EQ(report->method, "dense");
  EXPECT_NE(report->ToTable().find("dense AUC"), std::string::npos);
  for (const DomainResult& d : report->domains) {
    EXPECT_GT(d.iak_auc, 0.5) << d.domain;
    EXPECT_NE(d.iak_auc, d.base_auc) << d.domain;
  }
  PrintAuc(spec, *report);
  ExpectExportHoldsEveryModel(spec, result.domain_names, BaseModel());
  ExpectPredictionMatchesEvaluation(spec, *report);
}

TEST_F(MethodsOnClusterTest, LoraTrainsLowRankFactorsIdenticalOnEveryWorker) {
  proto::JobSpec spec = Spec("lora");
  EXPECT_EQ(spec.lora().rank(), 4);  // the defaults
  EXPECT_EQ(spec.lora().alpha(), 4.0f);
  spec.mutable_lora()->set_rank(2);
  spec.mutable_lora()->set_alpha(2.0f);
  cluster::InProcClusterResult result = Run(spec);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  EXPECT_EQ(result.steps_done[0], 240);
  const model::BaseModel base = BaseModel();
  ASSERT_EQ(result.method_params[0].size(), 4u);
  StatusOr<JobData> job = LoadJobData(spec.data());
  ASSERT_TRUE(job.ok());
  for (size_t d = 0; d < 4; ++d) {
    EXPECT_EQ(result.method_params[0][d], result.method_params[1][d]) << "domain " << d;
    // Initialised as the workers do (B = 0), then trained: B moved.
    model::LoraConfig config;
    config.rank = 2;
    config.alpha = 2.0f;
    model::LoraAdapter fresh(base.config(), config);
    fresh.Init(spec.seed() + 1000003ULL * static_cast<uint64_t>(job->finetune_domains[d]));
    ASSERT_EQ(result.method_params[0][d].size(), fresh.num_params());
    EXPECT_NE(result.method_params[0][d], fresh.params()) << "domain " << d;
    // The written model is base + s A B with the trained factors.
    std::copy(result.method_params[0][d].begin(), result.method_params[0][d].end(),
              fresh.mutable_params());
    model::BaseModel merged = base;
    fresh.Merge(base.params().data(), merged.mutable_params());
    StatusOr<model::BaseModel> written = LoadMethodModel(spec.output_dir(), result.domain_names[d]);
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(written->params(), merged.params());
    EXPECT_NE(written->params(), base.params());
  }
  ExpectTrainLossFalls(spec, result.domain_names);
  StatusOr<EvalReport> report = EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->method, "lora");
  PrintAuc(spec, *report);
  ExpectExportHoldsEveryModel(spec, result.domain_names, BaseModel());
  ExpectPredictionMatchesEvaluation(spec, *report);
}

TEST_F(MethodsOnClusterTest, FrozenPassesThePhasesWritesNothingAndScoresTheBase) {
  const proto::JobSpec spec = Spec("frozen");
  cluster::InProcClusterResult result = Run(spec);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  EXPECT_EQ(result.steps_done[0], 0);
  EXPECT_FALSE(std::filesystem::exists(spec.output_dir() + "/models"));
  EXPECT_FALSE(std::filesystem::exists(spec.output_dir() + "/adapters"));
  StatusOr<EvalReport> report = EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 4u);
  for (const DomainResult& d : report->domains) {
    EXPECT_GT(d.base_auc, 0.5);
    EXPECT_EQ(d.iak_auc, d.base_auc);
  }
  PrintAuc(spec, *report);
  ExpectExportHoldsEveryModel(spec, {}, BaseModel());  // the base alone
  ExpectPredictionMatchesEvaluation(spec, *report);
}

TEST_F(MethodsOnClusterTest, FullWithSeveralDomainsFailsFastNamingTheRule) {
  proto::JobSpec spec = Spec("full");
  spec.mutable_timeouts()->set_heartbeat_timeout_ms(5000);
  cluster::InProcClusterResult result = Run(spec);
  Status overall = result.Overall();
  ASSERT_FALSE(overall.ok());
  EXPECT_NE(overall.ToString().find("exactly one domain"), std::string::npos) << overall;
  // The cause, not a consequence (a server that registered after the job
  // stopped), whichever registered first.
  EXPECT_EQ(overall.ToString().find("cannot join"), std::string::npos) << overall;
}

// Full fine-tuning runs one domain per job: period bounds ending at
// 2004-2007's end leave that single later period.
proto::JobSpec OneDomain(proto::JobSpec spec) {
  spec.mutable_data()->clear_period_bounds();
  for (int b : {1996, 2004, 2008}) spec.mutable_data()->add_period_bounds(b);
  return spec;
}

TEST_F(MethodsOnClusterTest, FullTrainsDenseWeightsAndEmbeddingRowsOnTrainableServers) {
  proto::JobSpec spec = OneDomain(Spec("full"));
  spec.mutable_trainable()->set_optimizer("adagrad");
  spec.mutable_trainable()->set_learning_rate(0.02f);
  ASSERT_TRUE(job::Validate(spec).ok());
  cluster::InProcClusterResult result = Run(spec);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  EXPECT_EQ(result.steps_done[0], 240);
  ASSERT_EQ(result.domain_names, std::vector<std::string>{"2004-2007"});
  const model::BaseModel base = BaseModel();
  EXPECT_EQ(result.method_params[0][0], result.method_params[1][0]);
  EXPECT_NE(result.method_params[0][0], base.params());
  StatusOr<model::BaseModel> written = LoadMethodModel(spec.output_dir(), "2004-2007");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->params(), result.method_params[0][0]);

  // The servers wrote a trained snapshot whose rows of the domain's training
  // keys moved, and no others.
  StatusOr<embedding::ModelDirectory> frozen_dir = embedding::LoadModelDirectory(spec.model_dir());
  StatusOr<embedding::ModelDirectory> trained_dir =
      embedding::LoadModelDirectory(TrainedModelDir(spec));
  ASSERT_TRUE(frozen_dir.ok() && trained_dir.ok()) << trained_dir.status();
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> frozen =
      embedding::LocalEmbeddingTable::Open(*frozen_dir);
  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> trained =
      embedding::LocalEmbeddingTable::Open(*trained_dir);
  ASSERT_TRUE(frozen.ok() && trained.ok());
  StatusOr<JobData> job = LoadJobData(spec.data());
  ASSERT_TRUE(job.ok());
  const int dim = base.config().embedding_dim;
  int moved = 0, checked = 0;
  const data::SampleIds& train = job->splits[job->finetune_domains[0]].train;
  for (size_t i = 0; i < std::min<size_t>(train.size(), 200); ++i) {
    size_t count = 0;
    const uint64_t* keys = job->dataset.FieldKeys(train[i], 0, &count);
    for (size_t k = 0; k < count; ++k) {
      const float* before = (*frozen)->Find(keys[k]);
      const float* after = (*trained)->Find(keys[k]);
      ASSERT_NE(after, nullptr);
      ++checked;
      if (before == nullptr || !std::equal(after, after + dim, before)) ++moved;
    }
  }
  EXPECT_GT(moved, checked / 2) << moved << " of " << checked << " rows moved";

  StatusOr<EvalReport> report = EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 1u);
  EXPECT_EQ(report->method, "full");
  EXPECT_GT(report->domains[0].iak_auc, 0.5);
  PrintAuc(spec, *report);
  // The export holds the dense model and says where the trained rows are.
  ExpectExportHoldsEveryModel(spec, result.domain_names, base);
  ExpectPredictionMatchesEvaluation(spec, *report);
  std::string blob;
  ASSERT_TRUE(ReadFileToString(spec.output_dir() + "/export/model.safetensors", &blob).ok());
  StatusOr<SafetensorsFile> file = DecodeSafetensors(blob, "export");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata.at("trained_model_dir"), TrainedModelDir(spec));
}

TEST_F(MethodsOnClusterTest, FullOnFrozenServersFailsWithTheServersRefusal) {
  proto::JobSpec spec = OneDomain(Spec("full"));
  spec.set_output_dir(dir_->path() + "/out-full-frozen");
  ASSERT_FALSE(spec.has_trainable());
  cluster::InProcClusterResult result = Run(spec);
  Status overall = result.Overall();
  ASSERT_FALSE(overall.ok());
  EXPECT_NE(overall.ToString().find("serves a frozen snapshot; pushes are refused"),
            std::string::npos) << overall;
}

}  // namespace
}  // namespace iak::worker
