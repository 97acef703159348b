// A real multi-process run over TCP loopback: `iak demo` with few steps
// starts a scheduler, 2 PS processes and 2 workers under mpirun.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cluster/child_process.h"

namespace iak::cluster {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MultiProcessTest, DemoRunsAcrossProcessesAndWritesTheTable) {
  char pattern[] = "/tmp/iak_multiprocess_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string run_dir = pattern;
  const std::string log = run_dir + "/demo.out";
  StatusOr<std::unique_ptr<ChildProcess>> demo = ChildProcess::Start(
      "iak demo",
      {IAK_BINARY, "demo", "--run_dir=" + run_dir + "/run", "--compression_steps=30",
       "--matching_steps=10", "--batch_size=128", "--pretrain_epochs=1", "--job_timeout_s=240"},
      log);
  ASSERT_TRUE(demo.ok()) << demo.status();
  StatusOr<int> code = (*demo)->Wait(Deadline::After(Duration(300 * 1000)));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << ReadFile(log);

  const std::string results = ReadFile(run_dir + "/run/results.json");
  for (const char* domain : {"2004-2007", "2008-2011", "2012-2015", "2016-2018"}) {
    EXPECT_NE(results.find(domain), std::string::npos) << results;
  }
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("IAK AUC"), std::string::npos) << out;
  // Each node kept its own log.
  for (const char* node : {"scheduler.log", "ps-0.log", "ps-1.log", "workers.log"}) {
    EXPECT_FALSE(ReadFile(run_dir + "/run/logs/" + node).empty()) << node;
  }
  // The run report's plots (gnuplot is one of the project's dependencies).
  if (::access("/usr/bin/gnuplot", X_OK) == 0) {
    for (const char* plot : {"loss.png", "auc.png", "report.md"}) {
      EXPECT_FALSE(ReadFile(run_dir + "/run/report/" + plot).empty()) << plot;
    }
  }
  std::system(("rm -rf " + run_dir).c_str());
}

// `iak pretrain --job --cluster`: pre-training as a local cluster job (a
// scheduler, 2 trainable PS processes, 2 workers under mpirun) writes a
// model directory that `iak snapshot verify` accepts.
TEST(MultiProcessTest, PretrainRunsAsAClusterJob) {
  char pattern[] = "/tmp/iak_multiprocess_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  const std::string spec = dir + "/pretrain.pbtxt";
  std::ofstream(spec) << "name: \"pretrain-mp\"\n"
                      << "model_dir: \"" << dir << "/model\"\n"
                      << "output_dir: \"" << dir << "/out\"\n"
                      << "data { movielens_dir: \"datasets/ml-latest-small\" }\n"
                      << "num_servers: 2\nnum_workers: 2\n"
                      << "pretrain { enabled: true epochs: 1 key_dropout: 0.3 }\n";
  const std::string log = dir + "/pretrain.out";
  StatusOr<std::unique_ptr<ChildProcess>> run =
      ChildProcess::Start("iak pretrain", {IAK_BINARY, "pretrain", "--job=" + spec, "--cluster"},
                          log);
  ASSERT_TRUE(run.ok()) << run.status();
  StatusOr<int> code = (*run)->Wait(Deadline::After(Duration(240 * 1000)));
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("pre-trained a CTR base on 32377 samples; wrote 4285 embedding rows in 2"),
            std::string::npos)
      << out;
  for (const char* node : {"scheduler.log", "ps-0.log", "ps-1.log", "workers.log"}) {
    EXPECT_FALSE(ReadFile(dir + "/out/pretrain/logs/" + node).empty()) << node;
  }
  StatusOr<std::unique_ptr<ChildProcess>> verify = ChildProcess::Start(
      "iak snapshot verify", {IAK_BINARY, "snapshot", "verify", dir + "/model"}, dir + "/verify.out");
  ASSERT_TRUE(verify.ok()) << verify.status();
  StatusOr<int> verified = (*verify)->Wait(Deadline::After(Duration(60 * 1000)));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, 0) << ReadFile(dir + "/verify.out");
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace iak::cluster
