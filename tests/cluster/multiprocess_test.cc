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

}  // namespace
}  // namespace iak::cluster
