// `iak scale` (the real binary): its refusals, each with a clear error -
// missing arguments, an unknown job, a job that is not running, a job that is
// not elastic, a worker count outside [min_workers, max_workers], a scheduler
// that does not answer within the deadline - and its request/response
// exchange with a scheduler endpoint (a net::RpcServer standing in for the
// scheduler's ScaleRequest handling): the request carries N, the response is
// printed, and the supervisor's scale request file is written. Then elastic
// jobs under `iak submit` with real processes: `iak scale --workers=3` on a
// running 2-worker job (the supervisor starts the third; an epoch of 3
// members forms; the job completes every step), and a 3-worker job with one
// worker SIGKILLed mid-run (dropped; the job still SUCCEEDS).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "cluster/child_process.h"
#include "cluster/job_state.h"
#include "cluster/scale_request_file.h"
#include "job/job_spec.h"
#include "net/free_port.h"
#include "net/rpc.h"
#include "net/zmq_transport.h"
#include "tests/testing/file_text.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"

namespace iak::cluster {
namespace {

using testing_util::FileText;

namespace fs = std::filesystem;

struct Outcome {
  int code = -1;
  std::string output;
};

Outcome Scale(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {IAK_BINARY, "scale"};
  argv.insert(argv.end(), args.begin(), args.end());
  Outcome outcome;
  StatusOr<int> code = RunAndCapture(argv, Deadline::After(Duration(30 * 1000)), &outcome.output);
  EXPECT_TRUE(code.ok()) << code.status();
  outcome.code = code.ok() ? *code : -1;
  return outcome;
}

class ScaleTest : public testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<testing_util::TempDir>("iak_scale_test");
    ASSERT_TRUE(tmp_->ok());
    dir_ = tmp_->path();
  }

  // A job "submitted" to <dir>/job: its resolved spec and its state, as the
  // supervisor writes them (the supervisor being this test process).
  std::string MakeJob(bool elastic, const std::string& state_value,
                      const std::string& scheduler_address) {
    const std::string job_dir = dir_ + "/job";
    fs::create_directories(job_dir + "/logs");
    proto::JobSpec spec = testing_util::SmallMovieLensJob("scale-test", dir_ + "/model", job_dir);
    spec.set_num_workers(2);
    if (elastic) {
      spec.mutable_elastic()->set_enabled(true);
      spec.mutable_elastic()->set_min_workers(2);
      spec.mutable_elastic()->set_max_workers(3);
    }
    EXPECT_TRUE(job::SaveJobSpec(spec, job_dir + "/job.pbtxt").ok());
    proto::JobState state;
    state.set_job_name("scale-test");
    state.set_launcher("local");
    state.set_state(state_value);
    state.set_supervisor_pid(static_cast<int>(::getpid()));
    state.set_job_spec_path(job_dir + "/job.pbtxt");
    state.set_log_dir(job_dir + "/logs");
    state.set_scheduler_address(scheduler_address);
    EXPECT_TRUE(WriteJobState(job_dir, state).ok());
    return job_dir;
  }

  static std::string UnusedAddress() {
    StatusOr<int> port = net::PickFreeLoopbackPort();
    CHECK(port.ok()) << port.status();
    return "tcp://127.0.0.1:" + std::to_string(*port);
  }

  std::unique_ptr<testing_util::TempDir> tmp_;  // removed with the fixture
  std::string dir_;
};

TEST_F(ScaleTest, ArgumentErrors) {
  Outcome no_count = Scale({dir_});
  EXPECT_EQ(no_count.code, 1);
  EXPECT_NE(no_count.output.find("--workers=N is required"), std::string::npos)
      << no_count.output;
  Outcome no_job = Scale({"--workers=3"});
  EXPECT_EQ(no_job.code, 1);
  EXPECT_NE(no_job.output.find("name the job: iak scale"), std::string::npos) << no_job.output;
  Outcome zero = Scale({dir_, "--workers=0"});
  EXPECT_EQ(zero.code, 1);
  EXPECT_NE(zero.output.find("N >= 1"), std::string::npos) << zero.output;
}

TEST_F(ScaleTest, UnknownJobIsNamed) {
  Outcome missing = Scale({dir_ + "/nowhere", "--workers=3"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("unknown job '" + dir_ + "/nowhere'"), std::string::npos)
      << missing.output;
  Outcome never_submitted = Scale({dir_, "--workers=3"});
  EXPECT_EQ(never_submitted.code, 1);
  EXPECT_NE(never_submitted.output.find("no job state at " + dir_ + "/job_state.pbtxt"),
            std::string::npos)
      << never_submitted.output;
}

TEST_F(ScaleTest, JobThatIsNotRunningIsRefused) {
  const std::string job = MakeJob(/*elastic=*/true, "SUCCEEDED", UnusedAddress());
  Outcome outcome = Scale({job, "--workers=3"});
  EXPECT_EQ(outcome.code, 1);
  EXPECT_NE(outcome.output.find("is not running (SUCCEEDED)"), std::string::npos)
      << outcome.output;
}

TEST_F(ScaleTest, StaticJobIsRefused) {
  const std::string job = MakeJob(/*elastic=*/false, "RUNNING", UnusedAddress());
  // By output directory and by its spec.
  for (const std::string& target : {job, job + "/job.pbtxt"}) {
    Outcome outcome = Scale({target, "--workers=3"});
    EXPECT_EQ(outcome.code, 1);
    EXPECT_NE(outcome.output.find("is not elastic"), std::string::npos) << outcome.output;
    EXPECT_NE(outcome.output.find("elastic { enabled: true }"), std::string::npos)
        << outcome.output;
  }
  EXPECT_FALSE(fs::exists(ScaleRequestPath(job + "/logs")));
}

TEST_F(ScaleTest, CountOutsideMinMaxIsRefused) {
  const std::string job = MakeJob(/*elastic=*/true, "RUNNING", UnusedAddress());
  for (const char* n : {"--workers=1", "--workers=4"}) {
    Outcome outcome = Scale({job, n});
    EXPECT_EQ(outcome.code, 1);
    EXPECT_NE(outcome.output.find("is outside [2, 3]"), std::string::npos) << outcome.output;
  }
}

TEST_F(ScaleTest, UnreachableSchedulerIsADeadlineError) {
  const std::string address = UnusedAddress();
  const std::string job = MakeJob(/*elastic=*/true, "RUNNING", address);
  Outcome outcome = Scale({job, "--workers=3", "--scale_timeout_ms=300"});
  EXPECT_EQ(outcome.code, 1);
  EXPECT_NE(outcome.output.find("at " + address + " did not answer within 300 ms"),
            std::string::npos)
      << outcome.output;
  EXPECT_FALSE(fs::exists(ScaleRequestPath(job + "/logs")));
}

// The exchange itself, against an RPC endpoint that answers ScaleRequests
// the way the scheduler does.
TEST_F(ScaleTest, RequestGoesToTheSchedulerAndTheSupervisorIsAsked) {
  net::ZmqTransport transport;
  StatusOr<std::unique_ptr<net::Listener>> listener = transport.Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  net::RpcServer server(std::move(listener).value(), net::RpcServerOptions{});
  std::atomic<bool> stop{false};
  std::atomic<int> asked{0};
  std::atomic<int> current{2};
  std::thread serving([&] {
    server.Run(
        stop,
        [&](net::RpcCall call) {
          if (!call.request.has_scale_request()) {
            server.ReplyError(call, InvalidArgumentError("not a scale request")).IgnoreError();
            return;
          }
          asked = call.request.scale_request().num_workers();
          proto::Envelope reply;
          reply.mutable_scale_response()->set_previous_workers(current.load());
          reply.mutable_scale_response()->set_target_workers(asked.load());
          reply.mutable_scale_response()->set_membership_epoch(4);
          current = asked.load();
          server.Reply(call, reply).IgnoreError();
        },
        {});
  });
  const std::string job = MakeJob(/*elastic=*/true, "RUNNING", address);
  Outcome up = Scale({job, "--workers=3"});
  Outcome down = Scale({job + "/job.pbtxt", "--workers=2"});
  stop = true;
  serving.join();
  EXPECT_EQ(up.code, 0) << up.output;
  EXPECT_NE(up.output.find("job scale-test: workers 2 -> 3 (membership epoch 4)"),
            std::string::npos)
      << up.output;
  EXPECT_NE(up.output.find("starts the new worker process(es) (scale request 1)"),
            std::string::npos)
      << up.output;
  EXPECT_EQ(down.code, 0) << down.output;
  EXPECT_NE(down.output.find("workers 3 -> 2"), std::string::npos) << down.output;
  EXPECT_EQ(asked.load(), 2);
  // The supervisor's file holds the latest target under a new sequence number.
  std::optional<ScaleFileRequest> request = ReadScaleRequest(job + "/logs");
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->sequence, 2);
  EXPECT_EQ(request->num_workers, 2);
}

// Elastic jobs end to end with real processes (`iak submit`, local launcher:
// scheduler, 2 PS and separate `iak worker` processes over TCP loopback,
// Gloo for the collectives).
class ElasticJobTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_elastic_job");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain", 2));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
  }
  static void TearDownTestSuite() { delete dir_; }

  static proto::JobSpec Spec(const std::string& run, int workers) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob("elastic-" + run, dir_->path() + "/model",
                                                          dir_->path() + "/" + run);
    spec.set_num_workers(workers);
    spec.mutable_phases(0)->set_steps(kCompression);
    spec.mutable_phases(1)->set_steps(kMatching);
    spec.mutable_elastic()->set_enabled(true);
    spec.mutable_elastic()->set_min_workers(1);
    spec.mutable_elastic()->set_max_workers(3);
    spec.mutable_elastic()->set_sync_every_steps(5);
    spec.mutable_timeouts()->set_heartbeat_interval_ms(200);
    spec.mutable_timeouts()->set_heartbeat_timeout_ms(2000);
    spec.mutable_timeouts()->set_collective_timeout_ms(2000);
    job::ApplyDefaults(&spec);
    return spec;
  }

  // Starts `iak submit` (the supervisor) for `spec`.
  static std::unique_ptr<ChildProcess> Submit(const proto::JobSpec& spec, const std::string& run) {
    const std::string path = dir_->path() + "/" + run + ".pbtxt";
    CHECK(job::SaveJobSpec(spec, path).ok());
    StatusOr<std::unique_ptr<ChildProcess>> submit = ChildProcess::Start(
        "submit", {IAK_BINARY, "submit", path}, dir_->path() + "/" + run + ".log");
    CHECK(submit.ok()) << submit.status();
    return std::move(submit).value();
  }

  // Polls (bounded) until the job's `log_name` (scheduler.log, workers.log)
  // contains `text`.
  static void WaitForLog(const std::string& run, const std::string& log_name,
                         const std::string& text, ChildProcess* submit) {
    const Deadline deadline = Deadline::After(Duration(60 * 1000));
    const std::string log = dir_->path() + "/" + run + "/logs/" + log_name;
    while (FileText(log).find(text) == std::string::npos) {
      ASSERT_FALSE(deadline.Expired()) << "no '" << text << "' in " << log << ":\n"
                                       << FileText(log);
      ASSERT_FALSE(submit->Poll().has_value())
          << "the job ended first:\n"
          << FileText(dir_->path() + "/" + run + ".log") << FileText(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll
    }
  }

  static void ExpectSucceeded(const std::string& run, ChildProcess* submit) {
    StatusOr<int> code = submit->Wait(Deadline::After(Duration(120 * 1000)));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << FileText(dir_->path() + "/" + run + ".log")
                        << FileText(dir_->path() + "/" + run + "/logs/scheduler.log");
    StatusOr<proto::JobState> state = ReadJobState(dir_->path() + "/" + run);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->state(), "SUCCEEDED") << state->message();
    // Every step of the plan was trained.
    EXPECT_NE(FileText(dir_->path() + "/" + run + "/logs/scheduler.log")
                  .find("phases done at global step " + std::to_string(kCompression + kMatching)),
              std::string::npos);
  }

  // The largest membership the scheduler logged ("sync: epoch E = [a, b]").
  static size_t LargestEpoch(const std::string& run) {
    const std::string log = FileText(dir_->path() + "/" + run + "/logs/scheduler.log");
    static const std::regex epoch(R"(sync: epoch \d+ = \[([^\]]*)\])");
    size_t largest = 0;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), epoch);
         it != std::sregex_iterator(); ++it) {
      const std::string members = (*it)[1];
      largest = std::max<size_t>(largest, std::count(members.begin(), members.end(), ',') + 1);
    }
    return largest;
  }

  static constexpr int kCompression = 40;
  static constexpr int kMatching = 400;
  static testing_util::TempDir* dir_;
};

testing_util::TempDir* ElasticJobTest::dir_ = nullptr;

TEST_F(ElasticJobTest, ScaleUpMidRunAddsAWorkerAndTheJobCompletes) {
  const std::string run = "scale-up";
  std::unique_ptr<ChildProcess> submit = Submit(Spec(run, 2), run);
  // Mid-run: once the first epoch trains. (The new worker is admitted at the
  // next sync it reaches; measured, it joined at global step 30 of 440.)
  WaitForLog(run, "scheduler.log", "sync: epoch 1 =", submit.get());
  Outcome outcome = Scale({dir_->path() + "/" + run, "--workers=3"});
  EXPECT_EQ(outcome.code, 0) << outcome.output;
  EXPECT_NE(outcome.output.find("workers 2 -> 3"), std::string::npos) << outcome.output;
  ExpectSucceeded(run, submit.get());
  EXPECT_NE(FileText(dir_->path() + "/" + run + ".log").find("scale request 1: started"),
            std::string::npos);
  EXPECT_EQ(LargestEpoch(run), 3u) << FileText(dir_->path() + "/" + run + "/logs/scheduler.log");
}

TEST_F(ElasticJobTest, KilledWorkerIsSurvived) {
  const std::string run = "kill-one";
  std::unique_ptr<ChildProcess> submit = Submit(Spec(run, 3), run);
  // Mid-run, at global step 140 (rank 0's progress line, every 50 steps of a phase).
  WaitForLog(run, "workers.log", "(global step 140)", submit.get());
  // A worker's pid from its registration line.
  const std::string log = FileText(dir_->path() + "/" + run + "/logs/scheduler.log");
  std::smatch m;
  static const std::regex registered(R"(registered \(elastic[^\n]*pid (\d+))");
  ASSERT_TRUE(std::regex_search(log, m, registered)) << log;
  const int pid = std::stoi(m[1]);
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << pid;
  ExpectSucceeded(run, submit.get());
  EXPECT_NE(FileText(dir_->path() + "/" + run + "/logs/scheduler.log").find("dropped from epoch"),
            std::string::npos);
  EXPECT_NE(FileText(dir_->path() + "/" + run + ".log").find("the scheduler carries on"),
            std::string::npos);
}

}  // namespace
}  // namespace iak::cluster
