// Domain names from users' data may hold any character but a tab or a line
// break: a whole in-process cluster job (scheduler, 2 PS, a worker) on
// synthetic data whose domains are named "us/east" and `q"x,y` writes each
// domain's adapter inside the job's adapters folder (escaped file names),
// and evaluation, its JSON, the run report's reader, prediction's loading
// and the export all read them back under their own names. Before, the
// adapter of "us/east" was written to adapters/us/east.iak, the write failed
// at the end of training and the job lost everything it had trained.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cluster/inproc_cluster.h"
#include "cluster/run_report.h"
#include "common/json_reader.h"
#include "data/synth.h"
#include "job/job_spec.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/temp_dir.h"
#include "worker/domain_predictor.h"
#include "worker/evaluator.h"
#include "worker/exporter.h"

namespace iak::cluster {
namespace {

constexpr char kSlashName[] = "us/east";
constexpr char kQuoteName[] = "q\"x,y";

// The synthetic CSV with domains d01 and d02 renamed (d00 pre-trains).
void WriteRenamedSynth(const std::string& path) {
  data::SynthOptions synth;
  synth.out = path + ".orig";
  synth.samples = 6000;
  synth.keys = 400;
  synth.domains = 3;
  synth.seed = 5;
  ASSERT_TRUE(data::WriteSynthData(synth).ok());
  std::ifstream in(synth.out);
  std::ofstream out(path);
  std::string line;
  while (std::getline(in, line)) {
    for (const auto& [from, to] : {std::pair<std::string, std::string>{",d01,", ",us/east,"},
                                   {",d02,", ",\"q\"\"x,y\","}}) {
      const size_t at = line.find(from);
      if (at != std::string::npos) line.replace(at, from.size(), to);
    }
    out << line << "\n";
  }
}

proto::JobSpec Spec(const std::string& dir) {
  proto::JobSpec spec;
  spec.set_name("domain-names");
  spec.set_model_dir(dir + "/model");
  spec.set_output_dir(dir + "/run");
  spec.mutable_data()->set_schema_file("examples/synth.schema.pbtxt");
  spec.mutable_data()->add_input_files(dir + "/synth.csv");
  spec.mutable_data()->set_pretrain_periods(1);
  spec.mutable_data()->set_train_fraction(0.7);
  spec.mutable_data()->set_validation_fraction(0.1);
  spec.set_batch_size(64);
  spec.set_num_workers(1);
  for (const auto& [phase, steps] : {std::pair{proto::PHASE_COMPRESSION, 30},
                                     std::pair{proto::PHASE_MATCHING, 10}}) {
    proto::PhaseCommand* p = spec.add_phases();
    p->set_phase(phase);
    p->set_steps(steps);
    p->set_beta(1e-3f);
    p->set_learning_rate(3e-3f);
  }
  spec.mutable_iak()->mutable_new_key_rows()->set_enabled(true);
  spec.mutable_timeouts()->set_startup_timeout_ms(30000);
  spec.mutable_timeouts()->set_barrier_timeout_ms(60000);
  job::ApplyDefaults(&spec);
  return spec;
}

TEST(DomainNamesClusterTest, AnyNameTrainsAndReadsBackInsideTheJobsFolders) {
  testing_util::TempDir dir("iak_domain_names_cluster");
  ASSERT_TRUE(dir.ok());
  WriteRenamedSynth(dir.path() + "/synth.csv");
  const proto::JobSpec spec = Spec(dir.path());
  ASSERT_TRUE(testing_util::PretrainSmallModel(spec).ok());

  std::atomic<bool> stop{false};
  const InProcClusterResult result = RunInProcCluster(spec, stop);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  EXPECT_EQ(result.domain_names, (std::vector<std::string>{kSlashName, kQuoteName}));

  // Every file the job wrote lies directly in its adapters folder.
  const std::string adapters = spec.output_dir() + "/adapters";
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(adapters)) {
    EXPECT_TRUE(entry.is_regular_file()) << entry.path();
    EXPECT_EQ(entry.path().parent_path(), std::filesystem::path(adapters)) << entry.path();
    files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"domain_plan.tsv", "q\"x,y.iak", "q\"x,y.rows",
                                             "us%2Feast.iak", "us%2Feast.rows"}));

  StatusOr<worker::EvalReport> report = worker::EvaluateJob(spec);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->domains.size(), 2u);
  StatusOr<JsonValue> json = ParseJson(report->ToJson());
  ASSERT_TRUE(json.ok()) << json.status() << "\n" << report->ToJson();
  EXPECT_EQ((*json)["domains"].Array()[1]["domain"].String(), kQuoteName);
  StatusOr<ResultsFile> results = ParseResultsJson(report->ToJson());
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->rows[0].domain, kSlashName);
  EXPECT_EQ(results->rows[1].domain, kQuoteName);

  StatusOr<std::unique_ptr<worker::JobModels>> models =
      worker::LoadJobModels(spec, result.domain_names);
  ASSERT_TRUE(models.ok()) << models.status();
  for (const auto& adapter : (*models)->adapters) EXPECT_NE(adapter, nullptr);

  StatusOr<worker::ExportReport> exported = worker::ExportJob(spec, dir.path() + "/export");
  ASSERT_TRUE(exported.ok()) << exported.status();
}

}  // namespace
}  // namespace iak::cluster
