// A killed scheduler is restarted by the supervisor and the job resumes from
// its latest checkpoint by itself: real `iak submit` processes (local
// launcher, scheduler + 2 PS + 2 MPI workers over TCP loopback), the
// scheduler SIGKILLed once a checkpoint of the second phase exists. The job
// must end SUCCEEDED with one restart, the full step count, and adapter files
// byte-identical to a fault-free run of the same spec. The test prints the
// time to detect (kill -> the supervisor noticed), the time to recover (kill
// -> first trained step after the resume, from the workers' log) and the
// steps lost (trained before the kill, redone after it).
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "cluster/child_process.h"
#include "cluster/job_state.h"
#include "job/job_spec.h"
#include "tests/testing/checkpoint_files.h"
#include "tests/testing/file_text.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/progress_log.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"

namespace iak::cluster {
namespace {

using testing_util::FileText;

constexpr int kCompressionSteps = 40;
constexpr int kMatchingSteps = 300;

// The global step a "compression step k/N" or "matching step k/N" line ends.
std::optional<int64_t> GlobalStepOf(const std::string& text) {
  static const std::regex step(R"(^(compression|matching) step (\d+)/\d+)");
  std::smatch m;
  if (!std::regex_search(text, m, step)) return std::nullopt;
  return std::stoll(m[2]) + (m[1] == "matching" ? kCompressionSteps : 0);
}

class SchedulerRestartTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_sched_restart");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain"));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
  }
  static void TearDownTestSuite() { delete dir_; }

  // 40 + 300 steps, a checkpoint every 20 global steps, cache off (a static
  // job resumes bit-exactly then; resume_test).
  static proto::JobSpec Spec(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob("restart-test", dir_->path() + "/model",
                                                          dir_->path() + "/" + run);
    spec.mutable_phases(0)->set_steps(kCompressionSteps);
    spec.mutable_phases(1)->set_steps(kMatchingSteps);
    spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
    spec.mutable_checkpoint()->set_every_n_steps(20);
    spec.mutable_timeouts()->set_heartbeat_timeout_ms(5000);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static std::string SaveSpec(const proto::JobSpec& spec, const std::string& file) {
    const std::string path = dir_->path() + "/" + file + ".pbtxt";
    CHECK(job::SaveJobSpec(spec, path).ok());
    return path;
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* SchedulerRestartTest::dir_ = nullptr;

TEST_F(SchedulerRestartTest, KilledSchedulerIsRestartedAndTheJobResumesExactly) {
  std::string out;
  // Nothing is killed in the reference: it keeps the default timeouts, so a
  // loaded machine cannot fail it (timeouts do not change the adapters).
  proto::JobSpec reference = Spec("reference");
  reference.clear_timeouts();
  job::ApplyDefaults(&reference);
  StatusOr<int> code = RunAndCapture({IAK_BINARY, "submit", SaveSpec(reference, "ref")},
                                     Deadline::After(Duration(120 * 1000)), &out);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0) << out;

  // The job under test: `iak submit` is the supervisor (not detached).
  const proto::JobSpec spec = Spec("killed");
  const std::string job_dir = spec.output_dir();
  StatusOr<std::unique_ptr<ChildProcess>> submit = ChildProcess::Start(
      "submit", {IAK_BINARY, "submit", SaveSpec(spec, "killed"), "--progress_every=1"},
      dir_->path() + "/killed-submit.log");
  ASSERT_TRUE(submit.ok()) << submit.status();

  // Wait (polling, bounded) for a checkpoint of the second phase.
  const Deadline deadline = Deadline::After(Duration(90 * 1000));
  bool in_phase_two = false;
  while (!in_phase_two) {
    ASSERT_FALSE(deadline.Expired()) << "no checkpoint of phase 2 within 90 s:\n"
                                     << FileText(dir_->path() + "/killed-submit.log");
    ASSERT_FALSE((*submit)->Poll().has_value()) << "the job ended early:\n"
                                                << FileText(dir_->path() + "/killed-submit.log");
    in_phase_two = testing_util::HasCheckpointOfPhase(job_dir, 1, /*mid_phase=*/true);
    if (!in_phase_two) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll
  }
  StatusOr<proto::JobState> running = ReadJobState(job_dir);
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->state(), "RUNNING");
  ASSERT_GT(running->scheduler_pid(), 1);
  EXPECT_FALSE(running->scheduler_address().empty());
  const auto killed_at = std::chrono::system_clock::now();
  ASSERT_EQ(::kill(running->scheduler_pid(), SIGKILL), 0) << "pid " << running->scheduler_pid();

  StatusOr<int> exit_code = (*submit)->Wait(Deadline::After(Duration(120 * 1000)));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  const std::string submit_log = FileText(dir_->path() + "/killed-submit.log");
  ASSERT_EQ(*exit_code, 0) << submit_log;
  EXPECT_NE(submit_log.find("killed by signal 9"), std::string::npos) << submit_log;
  EXPECT_NE(submit_log.find("restarting the job's processes from the latest checkpoint "
                            "(restart 1 of 2)"),
            std::string::npos)
      << submit_log;

  StatusOr<proto::JobState> state = ReadJobState(job_dir);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->state(), "SUCCEEDED") << state->message();
  EXPECT_EQ(state->restarts(), 1);
  EXPECT_NE(state->restart_reason().find("pid " + std::to_string(running->scheduler_pid())),
            std::string::npos)
      << state->restart_reason();

  // The old group's workers (mpirun's ranks, grandchildren of the
  // supervisor) were killed with it: the first two worker registrations in
  // the scheduler's log (appended across the restart) name their pids.
  {
    const std::string sched_log = FileText(job_dir + "/logs/scheduler.log");
    static const std::regex registered(R"(worker-\d+ \(node \d+\) registered: rank \d+ pid (\d+))");
    int checked = 0;
    for (auto it = std::sregex_iterator(sched_log.begin(), sched_log.end(), registered);
         it != std::sregex_iterator() && checked < 2; ++it, ++checked) {
      const std::string stat = FileText("/proc/" + (*it)[1].str() + "/stat");
      const size_t close = stat.rfind(')');
      // Gone, or a zombie nobody reaped yet.
      EXPECT_TRUE(stat.empty() || (close != std::string::npos && stat[close + 2] == 'Z'))
          << "old worker pid " << (*it)[1] << " still runs: " << stat;
    }
    EXPECT_EQ(checked, 2) << sched_log;
  }

  // Byte-identical adapters.
  for (const char* domain : {"2004-2007", "2008-2011", "2012-2015", "2016-2018"}) {
    const std::string x = FileText(dir_->path() + "/reference/adapters/" + domain + ".iak");
    const std::string y = FileText(job_dir + "/adapters/" + domain + ".iak");
    ASSERT_FALSE(x.empty()) << domain;
    EXPECT_TRUE(x == y) << "the restarted job's adapter differs for " << domain;
  }

  // From the workers' log (rank 0, a line per step): the last step trained
  // before the restart, the resume point, the first step after it, the last.
  const std::vector<testing_util::LogLine> lines =
      testing_util::ProgressLines(FileText(job_dir + "/logs/workers.log"));
  const std::regex resumed_re(R"(resumed from (\S+) at phase \d+ step \d+ \(global step (\d+)\))");
  int64_t last_before = -1;
  int64_t resumed_global = -1;
  int64_t first_after = -1;
  int64_t first_after_us = -1;
  int64_t final_step = -1;
  for (const testing_util::LogLine& line : lines) {
    std::smatch m;
    if (std::regex_search(line.text, m, resumed_re)) {
      // Every worker logs it, all at the same step; only once.
      if (resumed_global >= 0) {
        EXPECT_EQ(std::stoll(m[2]), resumed_global);
        EXPECT_EQ(first_after, -1) << "resumed twice";
      }
      resumed_global = std::stoll(m[2]);
      continue;
    }
    std::optional<int64_t> step = GlobalStepOf(line.text);
    if (!step.has_value()) continue;
    if (resumed_global < 0) {
      last_before = *step;
    } else if (first_after < 0) {
      first_after = *step;
      first_after_us = line.time_of_day_us;
    }
    final_step = *step;
  }
  ASSERT_GT(resumed_global, kCompressionSteps) << "no resume in phase 2 in the workers' log";
  // (A kill between the checkpoint's write and its step's log line leaves
  // the last logged step one short of it.)
  ASSERT_GE(last_before, resumed_global - 1);
  // The first step after the resume is the one after the checkpoint; the job
  // ends with the same number of steps as the fault-free one.
  EXPECT_EQ(first_after, resumed_global + 1);
  EXPECT_EQ(final_step, kCompressionSteps + kMatchingSteps);
  EXPECT_EQ(resumed_global % 20, 0) << "a resume point that is no checkpoint";
  const int64_t steps_lost = std::max<int64_t>(0, last_before - resumed_global);
  EXPECT_LT(steps_lost, 20 + 5) << "more than one checkpoint interval (+ the stop) lost";

  const int64_t kill_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              killed_at.time_since_epoch())
                              .count();
  const int64_t detect_ms = state->restart_detected_at_ms() - kill_ms;
  int64_t recover_us = first_after_us - testing_util::LocalTimeOfDayUs(killed_at);
  if (recover_us < 0) recover_us += 86400LL * 1000000;  // past midnight
  // Figures, not bars (those belong in benchmarks): printed for the docs.
  EXPECT_GE(detect_ms, 0);
  std::cout << "scheduler SIGKILLed at global step ~" << last_before << ": detected after "
            << detect_ms << " ms; first trained step after the resume " << recover_us / 1000.0
            << " ms after the kill; resumed at global step " << resumed_global << ", steps lost "
            << steps_lost << "; job SUCCEEDED with " << final_step << " steps, restarts "
            << state->restarts() << std::endl;
}

// launcher.max_restarts < 0: a killed scheduler ends the job, FAILED, with
// the reason and what to do.
TEST_F(SchedulerRestartTest, NoRestartsAllowedFailsTheJobNamingTheSignal) {
  proto::JobSpec spec = Spec("no-restart");
  spec.mutable_launcher()->set_max_restarts(-1);
  const std::string job_dir = spec.output_dir();
  StatusOr<std::unique_ptr<ChildProcess>> submit =
      ChildProcess::Start("submit", {IAK_BINARY, "submit", SaveSpec(spec, "no-restart")},
                          dir_->path() + "/no-restart.log");
  ASSERT_TRUE(submit.ok()) << submit.status();
  const Deadline deadline = Deadline::After(Duration(90 * 1000));
  int pid = 0;
  while (pid == 0) {
    ASSERT_FALSE(deadline.Expired()) << FileText(dir_->path() + "/no-restart.log");
    ASSERT_FALSE((*submit)->Poll().has_value()) << FileText(dir_->path() + "/no-restart.log");
    StatusOr<proto::JobState> state = ReadJobState(job_dir);
    if (state.ok() && state->state() == "RUNNING") pid = state->scheduler_pid();
    if (pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  StatusOr<int> exit_code = (*submit)->Wait(Deadline::After(Duration(60 * 1000)));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_NE(*exit_code, 0);
  StatusOr<proto::JobState> state = ReadJobState(job_dir);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->state(), "FAILED");
  EXPECT_EQ(state->restarts(), 0);
  EXPECT_NE(state->message().find("killed by signal 9"), std::string::npos) << state->message();
  EXPECT_NE(state->message().find("iak submit --resume"), std::string::npos) << state->message();
}

}  // namespace
}  // namespace iak::cluster
