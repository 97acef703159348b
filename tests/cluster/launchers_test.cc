// One job spec under the local, mpirun and (real, single-node) Slurm
// launchers: each run is a group of real processes over TCP loopback, and
// all three must produce bit-identical adapters (same seeds, same data
// order, same sums). Also: a detached job can be watched and cancelled.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cluster/child_process.h"
#include "cluster/job_state.h"
#include "net/free_port.h"
#include "tests/testing/file_text.h"
#include "tests/testing/log_wait.h"
#include "tests/testing/temp_dir.h"

namespace iak::cluster {
namespace {

using testing_util::FileText;

// A free loopback port; this program cannot go on without one.
int FreePortOrDie() {
  StatusOr<int> port = net::PickFreeLoopbackPort();
  CHECK(port.ok()) << port.status();
  return *port;
}

int RunTool(const std::vector<std::string>& argv, std::string* output, int timeout_s = 240) {
  StatusOr<int> code = RunAndCapture(argv, Deadline::After(Duration(timeout_s * 1000)), output);
  EXPECT_TRUE(code.ok()) << code.status();
  return code.ok() ? *code : -1;
}

class LaunchersTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_launchers");
    ASSERT_TRUE(dir_->ok());
    std::string out;
    ASSERT_EQ(RunTool({IAK_BINARY, "pretrain", "--out=" + dir_->path() + "/model", "--shards=2",
                       "--epochs=1"},
                      &out),
              0)
        << out;
  }
  static void TearDownTestSuite() { delete dir_; }

  // A small job whose outputs go to <dir>/<name>.
  static std::string WriteSpec(const std::string& name, int compression_steps) {
    const std::string path = dir_->path() + "/" + name + ".pbtxt";
    std::ofstream(path) << "name: \"" << name << "\"\n"
                        << "model_dir: \"" << dir_->path() << "/model\"\n"
                        << "output_dir: \"" << dir_->path() << "/" << name << "\"\n"
                        << "data { movielens_dir: \""
                        << std::filesystem::absolute("datasets/ml-latest-small").string()
                        << "\" }\n"
                        << "batch_size: 128\n"
                        << "phases { phase: PHASE_COMPRESSION steps: " << compression_steps
                        << " beta: 0.001 learning_rate: 0.002 }\n"
                        << "phases { phase: PHASE_MATCHING steps: 12 beta: 0.0001 "
                           "learning_rate: 0.001 }\n";
    return path;
  }

  static void ExpectSameAdapters(const std::string& a, const std::string& b) {
    for (const char* domain : {"2004-2007", "2008-2011", "2012-2015", "2016-2018"}) {
      const std::string x = FileText(dir_->path() + "/" + a + "/adapters/" + domain + ".iak");
      const std::string y = FileText(dir_->path() + "/" + b + "/adapters/" + domain + ".iak");
      ASSERT_FALSE(x.empty()) << a << " wrote no adapter for " << domain;
      EXPECT_TRUE(x == y) << a << " and " << b << " differ for " << domain;
    }
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* LaunchersTest::dir_ = nullptr;

TEST_F(LaunchersTest, LocalAndMpirunHostfileGiveIdenticalAdapters) {
  std::string out;
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", WriteSpec("local", 24)}, &out), 0) << out;
  StatusOr<proto::JobState> state = ReadJobState(dir_->path() + "/local");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->state(), "SUCCEEDED");

  const std::string hostfile = dir_->path() + "/hostfile";
  std::ofstream(hostfile) << "localhost slots=4\n";
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", WriteSpec("mpirun", 24), "--launcher=mpirun",
                 "--hostfile=" + hostfile},
                &out),
            0)
      << out;
  ExpectSameAdapters("local", "mpirun");

  ASSERT_EQ(RunTool({IAK_BINARY, "status", dir_->path() + "/mpirun"}, &out), 0) << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
  ASSERT_EQ(RunTool({IAK_BINARY, "logs", dir_->path() + "/mpirun", "--node=scheduler"}, &out), 0)
      << out;
  EXPECT_NE(out.find("finished"), std::string::npos) << out;
}

TEST_F(LaunchersTest, CurveSecuredJobGivesTheSameAdapters) {
  std::string out;
  if (FileText(dir_->path() + "/local/adapters/2004-2007.iak").empty()) {
    ASSERT_EQ(RunTool({IAK_BINARY, "submit", WriteSpec("local", 24)}, &out), 0) << out;
  }
  const std::string key = dir_->path() + "/job.key";
  ASSERT_EQ(RunTool({IAK_BINARY, "keygen", "--key_out=" + key}, &out), 0) << out;
  const std::string spec = WriteSpec("secure", 24);
  std::ofstream(spec, std::ios::app) << "security { curve_key_file: \"" << key << "\" }\n";
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", spec}, &out), 0) << out;
  ExpectSameAdapters("local", "secure");
}

TEST_F(LaunchersTest, KilledReplicaIsSurvivedWithExactValues) {
  // Two replicas per shard; one is SIGKILLed mid-run. Workers fail over, the
  // scheduler drops the dead replica, and the adapters come out bit-identical
  // to those of the same job without the failure (rows are exact copies).
  auto spec_with_replicas = [](const std::string& name) {
    const std::string path = WriteSpec(name, 400);
    std::ofstream(path, std::ios::app)
        << "replicas_per_shard: 2\n"
        << "timeouts { heartbeat_timeout_ms: 3000 pull_timeout_ms: 1000 }\n";
    return path;
  };
  std::string out;
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", spec_with_replicas("replicated")}, &out), 0) << out;

  const std::string spec = spec_with_replicas("failover");
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", spec, "--detach"}, &out), 0) << out;
  const std::string job_dir = dir_->path() + "/failover";
  const Deadline running = Deadline::After(Duration(60000));
  ASSERT_TRUE(testing_util::WaitForFileText(job_dir + "/logs/workers.log", "compression step",
                                            running, std::chrono::milliseconds(20)))
      << "the job never made progress";
  // The PS processes run with the resolved spec of the job directory.
  ASSERT_EQ(RunTool({"pkill", "-KILL", "-f", "--", job_dir + "/job.pbtxt --shard=0 --replica=0"},
                    &out),
            0)
      << "no such replica process: " << out;
  const Deadline done = Deadline::After(Duration(120000));
  while (true) {
    StatusOr<proto::JobState> state = ReadJobState(job_dir);
    ASSERT_TRUE(state.ok()) << state.status();
    if (state->state() != "RUNNING" && state->state() != "SUBMITTED") {
      ASSERT_EQ(state->state(), "SUCCEEDED") << state->message();
      break;
    }
    ASSERT_FALSE(done.Expired()) << "the job did not finish after the replica was killed";
    usleep(50 * 1000);
  }
  ExpectSameAdapters("replicated", "failover");
}

TEST_F(LaunchersTest, DetachedJobCanBeWatchedAndCancelled) {
  std::string out;
  const std::string spec = WriteSpec("detached", 1000000);
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", spec, "--detach"}, &out), 0) << out;
  const std::string job_dir = dir_->path() + "/detached";
  // Wait (bounded) until the workers report progress, then cancel.
  const Deadline running = Deadline::After(Duration(60000));
  ASSERT_TRUE(testing_util::WaitForFileText(job_dir + "/logs/workers.log", "compression step",
                                            running, std::chrono::milliseconds(50)))
      << "the detached job never made progress";
  ASSERT_EQ(RunTool({IAK_BINARY, "status", job_dir}, &out), 0) << out;
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
  ASSERT_EQ(RunTool({IAK_BINARY, "cancel", job_dir}, &out), 0) << out;
  const Deadline cancelled = Deadline::After(Duration(60000));
  while (true) {
    StatusOr<proto::JobState> state = ReadJobState(job_dir);
    ASSERT_TRUE(state.ok()) << state.status();
    if (state->state() == "CANCELLED") break;
    ASSERT_FALSE(cancelled.Expired()) << "still " << state->state();
    usleep(50 * 1000);
  }
}

// A real single-node Slurm cluster (munge + slurmctld + slurmd from Debian's
// slurm-wlm), started and stopped by the test in a temporary directory.
class SlurmCluster {
 public:
  static bool Available(std::string* why) {
    for (const char* tool : {"/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd",
                             "/usr/bin/sbatch"}) {
      if (::access(tool, X_OK) != 0) {
        *why = std::string(tool) + " is missing (Debian packages slurm-wlm and munge)";
        return false;
      }
    }
    if (::geteuid() != 0) {
      *why = "starting slurmd needs root";
      return false;
    }
    return true;
  }

  bool Start(const std::string& dir, std::string* error) {
    dir_ = dir;
    // munged insists that every directory above its socket is searchable by all.
    for (std::filesystem::path p = dir; p.has_relative_path(); p = p.parent_path()) {
      if (std::filesystem::exists(p)) {
        std::filesystem::permissions(p, std::filesystem::perms::others_exec |
                                            std::filesystem::perms::group_exec,
                                     std::filesystem::perm_options::add);
      }
    }
    for (const char* sub : {"state", "spool", "log", "munge"}) {
      std::filesystem::create_directories(dir + "/" + sub);
    }
    {
      std::ofstream key(dir + "/munge/munge.key", std::ios::binary);
      for (int i = 0; i < 1024; ++i) key.put(static_cast<char>((i * 131 + 7) & 0xff));
    }
    std::filesystem::permissions(dir + "/munge/munge.key", std::filesystem::perms::owner_read);
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    std::string short_host = host;
    short_host = short_host.substr(0, short_host.find('.'));
    const std::string conf = dir + "/slurm.conf";
    std::ofstream(conf) << "ClusterName=iaktest\nSlurmctldHost=" << short_host
                        << "\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\n"
                        << "AuthInfo=socket=" << dir << "/munge/munge.socket\n"
                        << "CredType=cred/munge\nSlurmctldPort=" << FreePortOrDie()
                        << "\nSlurmdPort=" << FreePortOrDie() << "\nStateSaveLocation=" << dir
                        << "/state\nSlurmdSpoolDir=" << dir << "/spool\nSlurmctldPidFile=" << dir
                        << "/slurmctld.pid\nSlurmdPidFile=" << dir << "/slurmd.pid\n"
                        << "SlurmctldLogFile=" << dir << "/log/slurmctld.log\nSlurmdLogFile="
                        << dir << "/log/slurmd.log\nProctrackType=proctrack/linuxproc\n"
                        << "TaskPlugin=task/none\nSelectType=select/cons_tres\n"
                        << "SelectTypeParameters=CR_CPU\nMpiDefault=none\nReturnToService=2\n"
                        << "JobCompType=jobcomp/none\nAccountingStorageType=accounting_storage/none\n"
                        << "NodeName=" << short_host << " CPUs=" << sysconf(_SC_NPROCESSORS_ONLN)
                        << " RealMemory=1000 State=UNKNOWN\n"
                        << "PartitionName=debug Nodes=" << short_host
                        << " Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8\n";
    ::setenv("SLURM_CONF", conf.c_str(), 1);
    std::string out;
    if (RunTool({"/usr/sbin/munged", "--key-file=" + dir + "/munge/munge.key",
             "--socket=" + dir + "/munge/munge.socket", "--pid-file=" + dir + "/munge/munged.pid",
             "--log-file=" + dir + "/munge/munged.log", "--seed-file=" + dir + "/munge/seed"},
            &out, 30) != 0) {
      *error = "munged: " + out;
      return false;
    }
    if (RunTool({"/usr/sbin/slurmctld", "-f", conf}, &out, 30) != 0) {
      *error = "slurmctld: " + out;
      return false;
    }
    if (RunTool({"/usr/sbin/slurmd", "-f", conf}, &out, 30) != 0) {
      *error = "slurmd: " + out;
      return false;
    }
    // Ready once the node reports idle (bounded).
    const Deadline ready = Deadline::After(Duration(60000));
    while (!ready.Expired()) {
      if (RunTool({"sinfo", "--noheader", "--format=%T"}, &out, 30) == 0 &&
          out.find("idle") != std::string::npos) {
        return true;
      }
      usleep(200 * 1000);
    }
    *error = "the Slurm node never became idle: " + out + FileText(dir + "/log/slurmctld.log");
    return false;
  }

  // Stops the daemons and waits (bounded) until they are gone, so the
  // directory can be removed.
  ~SlurmCluster() {
    for (const char* pid_file : {"/slurmd.pid", "/slurmctld.pid", "/munge/munged.pid"}) {
      const std::string text = FileText(dir_ + pid_file);
      if (text.empty()) continue;
      const pid_t pid = std::atoi(text.c_str());
      ::kill(pid, SIGTERM);
      const Deadline gone = Deadline::After(Duration(10000));
      while (::kill(pid, 0) == 0 && !gone.Expired()) usleep(20 * 1000);
    }
  }

 private:
  std::string dir_;
};

TEST_F(LaunchersTest, SlurmRunsTheSameSpecWithTheSameResult) {
  std::string why;
  if (!SlurmCluster::Available(&why)) GTEST_SKIP() << "no Slurm here: " << why;
  std::string out;
  if (FileText(dir_->path() + "/local/adapters/2004-2007.iak").empty()) {
    ASSERT_EQ(RunTool({IAK_BINARY, "submit", WriteSpec("local", 24)}, &out), 0) << out;
  }
  SlurmCluster slurm;
  std::string error;
  ASSERT_TRUE(slurm.Start(dir_->path() + "/slurm-cluster", &error)) << error;
  ASSERT_EQ(RunTool({IAK_BINARY, "submit", WriteSpec("slurm", 24), "--launcher=slurm"}, &out), 0)
      << out;
  StatusOr<proto::JobState> state = ReadJobState(dir_->path() + "/slurm");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->state(), "SUCCEEDED");
  EXPECT_FALSE(state->slurm_job_id().empty());
  ExpectSameAdapters("local", "slurm");
}

}  // namespace
}  // namespace iak::cluster
