// A whole job across hosts with their own addresses: four network namespaces
// on one bridge (tests/cluster/netns.h), CURVE on every link. Host 0 runs the
// scheduler and both parameter servers, hosts 1 and 2 one elastic worker
// each (Gloo between them over the bridge), host 3 a fourth worker that
// joins the running job: it registers from the start, is held back while
// the target is 2 workers, and is admitted by a scale request at the sync
// point that ends the first phase, receiving the state from rank 0.
//
// The same job - same spec, same three workers, same join point - then runs
// with every process on one host; the adapters the two runs write must be
// byte for byte the same (the elastic trainer is deterministic for a given
// membership history: docs/elastic.md).
//
// Skips, saying why, where network namespaces or a bridge cannot be made
// (e.g. without CAP_SYS_ADMIN).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/child_process.h"
#include "job/job_spec.h"
#include "net/curve.h"
#include "net/zmq_transport.h"
#include "scheduler/scheduler_client.h"
#include "tests/cluster/netns.h"
#include "tests/testing/file_text.h"
#include "tests/testing/log_wait.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"

namespace iak::testing {
namespace {

using cluster::ChildProcess;
using testing_util::FileText;

constexpr int kHosts = 4;
constexpr int kCompressionSteps = 60;
constexpr int kMatchingSteps = 20;
// Ports are free for sure: each namespace has its own, untouched port space.
constexpr int kSchedulerPort = 7301;
constexpr int kFirstPsPort = 7302;

// Where each role of a run lives: host of the scheduler and servers, host of
// each worker (the third one is the joiner).
struct Layout {
  std::string name;
  int server_host = 0;
  int worker_hosts[3] = {0, 0, 0};
};

// What one run left behind.
struct RunResult {
  std::string output_dir;
  std::string scheduler_log;
  std::string logs;  // every process's log, for failure messages
};

class NetnsJobTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_netns_job");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain"));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
    std::string output;
    StatusOr<int> keygen = cluster::RunAndCapture(
        {IAK_BINARY, "keygen", "--key_out=" + dir_->path() + "/job.key"},
        Deadline::After(Duration(30000)), &output);
    ASSERT_TRUE(keygen.ok() && *keygen == 0) << output;
  }
  static void TearDownTestSuite() { delete dir_; }

  static proto::JobSpec Spec(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(
        "netns-" + run, dir_->path() + "/model", dir_->path() + "/" + run);
    spec.set_num_servers(2);
    spec.set_num_workers(2);
    spec.mutable_phases(0)->set_steps(kCompressionSteps);
    spec.mutable_phases(1)->set_steps(kMatchingSteps);
    proto::ElasticSpec* elastic = spec.mutable_elastic();
    elastic->set_enabled(true);
    elastic->set_min_workers(1);
    elastic->set_max_workers(3);
    // Sync points only at phase ends: the joiner is admitted at the end of
    // the first phase in every run, whatever the machine's speed.
    elastic->set_sync_every_steps(kCompressionSteps + kMatchingSteps);
    spec.mutable_timeouts()->set_heartbeat_interval_ms(200);
    spec.mutable_timeouts()->set_heartbeat_timeout_ms(10000);
    spec.mutable_timeouts()->set_collective_timeout_ms(20000);
    spec.mutable_security()->set_curve_key_file(dir_->path() + "/job.key");
    job::ApplyDefaults(&spec);
    return spec;
  }

  // Runs the job with `layout` on `hosts`; returns what it wrote once every
  // process has exited (each wait has a deadline).
  static StatusOr<RunResult> RunJob(const BridgedHosts& hosts, const Layout& layout);

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* NetnsJobTest::dir_ = nullptr;

// Asks the scheduler at `address` for `workers` workers, from a thread in
// host `host` (so over the bridge), with the job's CURVE key.
Status ScaleFromHost(const BridgedHosts& hosts, int host, const proto::JobSpec& spec,
                     const std::string& address, int workers) {
  Status result = InternalError("not run");
  std::thread client([&] {
    result = hosts.EnterInThisThread(host);
    if (!result.ok()) return;
    net::ZmqTransportOptions options;
    StatusOr<net::CurveKeyPair> keys = net::ReadCurveKeyFile(spec.security().curve_key_file());
    if (!keys.ok()) {
      result = keys.status();
      return;
    }
    options.curve = *keys;
    net::ZmqTransport transport(options);
    StatusOr<proto::ScaleResponse> scaled = scheduler::SchedulerClient::Scale(
        &transport, address, workers, Deadline::After(Duration(10000)));
    result = scaled.ok() ? Status::Ok() : scaled.status();
  });
  client.join();
  return result;
}

StatusOr<RunResult> NetnsJobTest::RunJob(const BridgedHosts& hosts, const Layout& layout) {
  const proto::JobSpec spec = Spec(layout.name);
  const std::string spec_path = dir_->path() + "/" + layout.name + ".pbtxt";
  IAK_RETURN_IF_ERROR(job::SaveJobSpec(spec, spec_path));
  const std::string logs = dir_->path() + "/" + layout.name + "-logs/";
  std::filesystem::create_directories(logs);
  const std::string server_ip = hosts.address(layout.server_host);
  const std::string scheduler = "tcp://" + server_ip + ":" + std::to_string(kSchedulerPort);

  // Declared in start order; stopped (if still running) in reverse.
  std::vector<std::unique_ptr<ChildProcess>> processes;
  auto start = [&](const std::string& name, int host, std::vector<std::string> argv) -> Status {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> child,
                         ChildProcess::Start(name, hosts.Exec(host, argv), logs + name + ".log"));
    processes.push_back(std::move(child));
    return Status::Ok();
  };
  auto all_logs = [&] {
    std::string text;
    for (const auto& p : processes) text += "--- " + p->name() + "\n" + FileText(p->log_path());
    return text;
  };
  auto fail = [&](const std::string& why) {
    for (auto it = processes.rbegin(); it != processes.rend(); ++it) (*it)->Stop(Duration(3000));
    return InternalError(why + "\n" + all_logs());
  };
  IAK_RETURN_IF_ERROR(start("scheduler", layout.server_host,
                            {IAK_BINARY, "scheduler", "--job=" + spec_path,
                             "--listen=" + scheduler}));
  for (int shard = 0; shard < 2; ++shard) {
    const std::string listen = "tcp://" + server_ip + ":" + std::to_string(kFirstPsPort + shard);
    IAK_RETURN_IF_ERROR(start("ps-" + std::to_string(shard), layout.server_host,
                              {IAK_BINARY, "ps", "--job=" + spec_path,
                               "--shard=" + std::to_string(shard), "--scheduler=" + scheduler,
                               "--name=ps-" + std::to_string(shard), "--ps_listen=" + listen}));
  }
  // Rank hints 0 and 1 form the first epoch; hint 2 waits to join.
  for (int w = 0; w < 3; ++w) {
    const int host = layout.worker_hosts[w];
    IAK_RETURN_IF_ERROR(start("worker-" + std::to_string(w), host,
                              {IAK_BINARY, "worker", "--job=" + spec_path,
                               "--scheduler=" + scheduler, "--rank_hint=" + std::to_string(w),
                               "--gloo_hostname=" + hosts.address(host), "--progress_every=20"}));
  }
  const std::string scheduler_log = processes[0]->log_path();
  if (!testing_util::WaitForFileText(scheduler_log, "sync: epoch 1 = [",
                                     Deadline::After(Duration(60000)),
                                     std::chrono::milliseconds(5))) {
    return fail("the first epoch never formed within 60 s");
  }
  // The joiner's host asks for it (any host of the job may).
  Status scaled = ScaleFromHost(hosts, layout.worker_hosts[2], spec, scheduler, 3);
  if (!scaled.ok()) return fail("scale request: " + scaled.ToString());

  // Workers end the job; the scheduler and servers then exit by themselves.
  const Deadline done_by = Deadline::After(Duration(180000));
  for (auto& process : processes) {
    StatusOr<int> code = process->Wait(done_by);
    if (!code.ok()) return fail(process->name() + " did not exit: " + code.status().ToString());
    if (*code != 0) return fail(process->name() + " exited with " + std::to_string(*code));
  }
  return RunResult{spec.output_dir(), FileText(scheduler_log), all_logs()};
}

std::vector<std::string> AdapterFiles(const std::string& output_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(output_dir + "/adapters", ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(NetnsJobTest, AJobAcrossFourHostsWithAnElasticJoinMatchesTheSameJobOnOneHost) {
  if (std::system("ip -V >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "iproute2 (`ip`) is not installed; tools/install_deps.sh installs it";
  }
  StatusOr<std::unique_ptr<BridgedHosts>> made = BridgedHosts::Create(kHosts);
  if (!made.ok()) GTEST_SKIP() << made.status().message();
  const BridgedHosts& hosts = **made;

  // Scheduler and servers on host 0, workers on hosts 1 and 2, the joiner on 3.
  StatusOr<RunResult> spread = RunJob(hosts, Layout{"spread", 0, {1, 2, 3}});
  ASSERT_TRUE(spread.ok()) << spread.status();
  // Everything on host 0.
  StatusOr<RunResult> one_host = RunJob(hosts, Layout{"one-host", 0, {0, 0, 0}});
  ASSERT_TRUE(one_host.ok()) << one_host.status();

  // Both runs: two workers first, the joiner admitted where the first phase
  // ends, the plan finished.
  const std::string joined = "at phase 1 step 0 (global step " +
                             std::to_string(kCompressionSteps) + "); 1 joiner(s) receive the state";
  const std::string finished =
      "phases done at global step " + std::to_string(kCompressionSteps + kMatchingSteps);
  for (const RunResult* run : {&*spread, &*one_host}) {
    EXPECT_NE(run->scheduler_log.find("sync: epoch 2 = ["), std::string::npos) << run->logs;
    EXPECT_NE(run->scheduler_log.find(joined), std::string::npos) << run->logs;
    EXPECT_NE(run->scheduler_log.find(finished), std::string::npos) << run->logs;
  }
  // The membership history, for the test log.
  for (const RunResult* run : {&*spread, &*one_host}) {
    std::istringstream lines(run->scheduler_log);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("sync: epoch") != std::string::npos ||
          line.find("scale request") != std::string::npos) {
        std::cout << run->output_dir.substr(run->output_dir.rfind('/') + 1) << ": "
                  << line.substr(line.find("] ") == std::string::npos ? 0 : line.find("] ") + 2)
                  << "\n";
      }
    }
  }
  // The spread run's workers reached the scheduler over host 0's address.
  EXPECT_NE(spread->scheduler_log.find(hosts.address(0)), std::string::npos);

  const std::vector<std::string> files = AdapterFiles(spread->output_dir);
  ASSERT_FALSE(files.empty()) << "no adapters in " << spread->output_dir << "\n" << spread->logs;
  EXPECT_EQ(files, AdapterFiles(one_host->output_dir));
  for (const std::string& file : files) {
    const std::string a = FileText(spread->output_dir + "/adapters/" + file);
    const std::string b = FileText(one_host->output_dir + "/adapters/" + file);
    EXPECT_FALSE(a.empty()) << file;
    EXPECT_TRUE(a == b) << "adapters " << file << " differ between the spread and the one-host run";
  }
}

}  // namespace
}  // namespace iak::testing
