// What the launchers generate, checked structurally: the sbatch script, the
// Kubernetes manifests, and the progress line parser.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cluster/kubernetes_manifests.h"
#include "cluster/progress.h"
#include "cluster/slurm_launcher.h"
#include "job/job_spec.h"
#include "tests/testing/temp_dir.h"

namespace iak::cluster {
namespace {

proto::JobSpec Spec(int servers, int replicas, int workers) {
  proto::JobSpec spec;
  spec.set_name("Period_Tuning");
  spec.set_model_dir("/data/model");
  spec.set_num_servers(servers);
  spec.set_replicas_per_shard(replicas);
  spec.set_num_workers(workers);
  job::ApplyDefaults(&spec);
  return spec;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::vector<std::string> Documents(const std::string& yaml) {
  std::vector<std::string> docs;
  std::string current;
  std::istringstream in(yaml);
  std::string line;
  while (std::getline(in, line)) {
    if (line == "---") {
      docs.push_back(current);
      current.clear();
    } else {
      current += line + "\n";
    }
  }
  docs.push_back(current);
  return docs;
}

TEST(SbatchScriptTest, StartsEveryNodeAsAStepAndRecordsTheExitCode) {
  proto::JobSpec spec = Spec(3, 2, 4);
  spec.mutable_launcher()->set_slurm_partition("gpu");
  const std::string script = RenderSbatchScript(spec, {"/j/job.pbtxt", "/opt/iak", "/j/logs"});
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_NE(script.find("#SBATCH --ntasks=11\n"), std::string::npos) << script;  // 1 + 3*2 + 4
  EXPECT_NE(script.find("#SBATCH --partition=gpu\n"), std::string::npos);
  EXPECT_EQ(Count(script, "\" scheduler --job="), 1);
  EXPECT_EQ(Count(script, "\\\" ps --job="), 6) << script;
  for (const char* name : {"ps-0-r0", "ps-0-r1", "ps-2-r1"}) {
    EXPECT_NE(script.find(std::string("--name=") + name), std::string::npos) << name;
  }
  EXPECT_NE(script.find("-np 4 \"$IAK\" worker"), std::string::npos);
  EXPECT_NE(script.find("slurm-$SLURM_JOB_ID.exit"), std::string::npos);
}

// The script's paths are bash words whatever they hold: a quote in a path
// ended the word and ran the rest as shell.
TEST(SbatchScriptTest, PathsWithQuotesAreOneShellWordEach) {
  const std::string path = "/opt/it's here/iak";
  const std::string script = RenderSbatchScript(Spec(1, 1, 1), {"/j/job.pbtxt", path, "/j/logs"});
  const size_t at = script.find("\nIAK=");
  ASSERT_NE(at, std::string::npos) << script;
  const std::string line = script.substr(at + 1, script.find('\n', at + 1) - at - 1);
  // bash sources the line and prints the variable back.
  testing_util::TempDir dir("iak_sbatch_quoting");
  ASSERT_TRUE(dir.ok());
  {
    std::ofstream(dir.path() + "/line.sh") << line << "\n";
  }
  std::FILE* pipe =
      popen(("bash -c '. " + dir.path() + "/line.sh && printf %s \"$IAK\"'").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[256];
  std::string printed;
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) printed += buffer;
  ASSERT_EQ(pclose(pipe), 0) << line;
  EXPECT_EQ(printed, path) << line;
}

TEST(KubernetesManifestsTest, DescribeSchedulerServersAndWorkers) {
  proto::JobSpec spec = Spec(2, 2, 3);
  spec.mutable_launcher()->set_image("registry.example/iak:1");
  spec.mutable_launcher()->set_k8s_namespace("ml");
  spec.mutable_launcher()->set_k8s_volume_claim("iak-data");
  spec.mutable_launcher()->set_gpus_per_worker(1);
  const std::string yaml = RenderKubernetesManifests(spec, "name: \"Period_Tuning\"\n");
  const std::vector<std::string> docs = Documents(yaml);
  std::vector<std::string> kinds;
  for (const std::string& doc : docs) {
    const size_t at = doc.find("\nkind: ");
    ASSERT_NE(at, std::string::npos) << doc;
    kinds.push_back(doc.substr(at + 7, doc.find('\n', at + 1) - at - 7));
    // Every object is in the job's namespace, with a DNS-safe name.
    EXPECT_NE(doc.find("namespace: ml\n"), std::string::npos) << doc;
    EXPECT_NE(doc.find("name: iak-period-tuning"), std::string::npos) << doc;
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"ConfigMap", "Service", "Deployment", "Service",
                                             "StatefulSet", "MPIJob"}));
  // The job spec travels in the ConfigMap.
  EXPECT_NE(docs[0].find("  job.pbtxt: |\n    name: \"Period_Tuning\"\n"), std::string::npos);
  // PS: shards x replicas pods with stable names behind a headless service;
  // the shard comes from the pod ordinal.
  EXPECT_NE(docs[3].find("clusterIP: None"), std::string::npos);
  EXPECT_NE(docs[4].find("replicas: 4\n"), std::string::npos) << docs[4];
  EXPECT_NE(docs[4].find("--shard=$((ORDINAL / 2))"), std::string::npos) << docs[4];
  EXPECT_NE(docs[4].find("--advertise=tcp://$HOSTNAME.iak-period-tuning-ps.ml.svc:7001"),
            std::string::npos);
  // Workers: the MPIJob runs 3 ranks with a GPU each, all mounting the data.
  EXPECT_NE(docs[5].find("-np, \"3\", iak, worker"), std::string::npos) << docs[5];
  EXPECT_NE(docs[5].find("      replicas: 3\n"), std::string::npos) << docs[5];
  EXPECT_NE(docs[5].find("nvidia.com/gpu: 1"), std::string::npos);
  EXPECT_NE(docs[5].find("claimName: iak-data"), std::string::npos);
  EXPECT_EQ(Count(yaml, "image: registry.example/iak:1"), 4);
  // Every pod reaches the scheduler through its service.
  EXPECT_EQ(Count(yaml, "--scheduler=tcp://iak-period-tuning-scheduler.ml.svc:7000"), 2);
}

TEST(JobProgressTest, FollowsPhasesAndEstimatesTimeLeft) {
  JobProgress progress({600, 300});
  const auto t0 = std::chrono::steady_clock::time_point();
  EXPECT_FALSE(progress.Observe("I1129 worker.cc:12] loading data", t0));
  EXPECT_TRUE(progress.Observe("I1129 worker.cc:99] progress: phase compression: 600 steps", t0));
  EXPECT_TRUE(progress.Observe("I1129 x] progress: compression step 100/600  loss 0.6", t0));
  EXPECT_TRUE(progress.Observe("I1129 x] progress: compression step 600/600  loss 0.6",
                               t0 + std::chrono::seconds(5)));
  EXPECT_EQ(progress.done_steps(), 600);
  EXPECT_DOUBLE_EQ(progress.rate(), 100.0);
  EXPECT_TRUE(progress.Observe("I1129 x] progress: phase matching: 300 steps", t0));
  EXPECT_TRUE(progress.Observe("I1129 x] progress: matching step 100/300  loss 0.6",
                               t0 + std::chrono::seconds(6)));
  EXPECT_EQ(progress.done_steps(), 700);
  const std::string bar = progress.Render(10);
  EXPECT_NE(bar.find("700/900 steps"), std::string::npos) << bar;
  EXPECT_NE(bar.find("phase 2/2 matching"), std::string::npos) << bar;
  EXPECT_NE(bar.find("ETA 2s"), std::string::npos) << bar;  // 200 steps at 100/s
}

}  // namespace
}  // namespace iak::cluster

#include "cluster/run_report.h"

namespace iak::cluster {
namespace {

TEST(RunReportTest, ParsesTheLossCurveOverBothPhases) {
  const std::string log =
      "I1 w] progress: phase compression: 100 steps, beta 0.001\n"
      "I1 w] progress: compression step 50/100  loss 0.70  1000 samples/s per worker\n"
      "I1 w] progress: compression step 100/100  loss 0.65  1000 samples/s per worker\n"
      "I1 w] something else\n"
      "I1 w] progress: phase matching: 40 steps, beta 0.0001\n"
      "I1 w] progress: matching step 40/40  loss 0.60  1000 samples/s per worker\n";
  const std::vector<LossPoint> points = ParseLossCurve(log);
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].step, 50);
  EXPECT_EQ(points[1].step, 100);
  EXPECT_EQ(points[2].step, 140);  // global step: matching continues the count
  EXPECT_EQ(points[2].phase, 1);
  EXPECT_DOUBLE_EQ(points[2].loss, 0.60);
}

TEST(RunReportTest, ReadsResultsJsonAndRefusesAnEmptyOne) {
  StatusOr<ResultsFile> results = ParseResultsJson(
      "{\n  \"domains\": [\n    {\"domain\": \"2004-2007\", \"base_auc\": 0.65, \"iak_auc\": "
      "0.66},\n    {\"domain\": \"2008-2011\", \"base_auc\": 0.70, \"iak_auc\": 0.69}\n  ]\n}\n");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->method, "iak");  // files from before the method was written
  ASSERT_EQ(results->rows.size(), 2u);
  EXPECT_EQ(results->rows[1].domain, "2008-2011");
  EXPECT_DOUBLE_EQ(results->rows[1].iak_auc, 0.69);
  results = ParseResultsJson(
      "{\"method\": \"lora\", \"domains\": [{\"domain\": \"a\", \"base_auc\": null, "
      "\"iak_auc\": 0.5}]}");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->method, "lora");
  EXPECT_TRUE(std::isnan(results->rows[0].base_auc));
  EXPECT_EQ(ParseResultsJson("{}").status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace iak::cluster
