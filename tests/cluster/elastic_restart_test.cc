// A killed scheduler of an ELASTIC job (docs/elastic.md, "Checkpoints of
// elastic jobs"): real `iak submit` processes (local launcher: scheduler,
// 2 PS and 2 separate `iak worker` processes over TCP loopback, Gloo for the
// collectives). The scheduler is SIGKILLed once a checkpoint of the second
// phase exists; the supervisor restarts the group with --resume, the
// workers load the latest checkpoint and the scheduler's first epoch starts
// at its position. The job must end SUCCEEDED with one restart and every
// step of the plan, resumed at a checkpoint (log lines of the workers and
// the scheduler). Prints the time to detect, the time to recover and the
// steps lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
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
constexpr int kMatchingSteps = 400;
constexpr int kSyncEvery = 5;
constexpr int kEveryN = 20;

// Rank 0's step lines: "compression step 25/40 (global step 25)  loss ...".
std::optional<int64_t> GlobalStepOf(const std::string& text) {
  static const std::regex step(R"(^(compression|matching) step \d+/\d+ \(global step (\d+)\))");
  std::smatch m;
  if (!std::regex_search(text, m, step)) return std::nullopt;
  return std::stoll(m[2]);
}

class ElasticRestartTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_elastic_restart");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain"));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
  }
  static void TearDownTestSuite() { delete dir_; }

  static proto::JobSpec Spec(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(
        "elastic-restart", dir_->path() + "/model", dir_->path() + "/" + run);
    spec.set_num_workers(2);
    spec.mutable_phases(0)->set_steps(kCompressionSteps);
    spec.mutable_phases(1)->set_steps(kMatchingSteps);
    spec.mutable_elastic()->set_enabled(true);
    spec.mutable_elastic()->set_min_workers(1);
    spec.mutable_elastic()->set_max_workers(2);
    spec.mutable_elastic()->set_sync_every_steps(kSyncEvery);
    spec.mutable_checkpoint()->set_every_n_steps(kEveryN);
    spec.mutable_timeouts()->set_heartbeat_interval_ms(200);
    spec.mutable_timeouts()->set_heartbeat_timeout_ms(2000);
    spec.mutable_timeouts()->set_collective_timeout_ms(2000);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static testing_util::TempDir* dir_;
};

testing_util::TempDir* ElasticRestartTest::dir_ = nullptr;

TEST_F(ElasticRestartTest, KilledSchedulerIsRestartedAndTheElasticJobResumesFromItsCheckpoint) {
  const proto::JobSpec spec = Spec("killed");
  const std::string job_dir = spec.output_dir();
  const std::string spec_path = dir_->path() + "/killed.pbtxt";
  ASSERT_TRUE(job::SaveJobSpec(spec, spec_path).ok());
  const std::string submit_log_path = dir_->path() + "/killed-submit.log";
  StatusOr<std::unique_ptr<ChildProcess>> submit = ChildProcess::Start(
      "submit", {IAK_BINARY, "submit", spec_path, "--progress_every=1"}, submit_log_path);
  ASSERT_TRUE(submit.ok()) << submit.status();

  // Wait (polling, bounded) for a checkpoint inside the second phase.
  const Deadline deadline = Deadline::After(Duration(90 * 1000));
  bool in_phase_two = false;
  while (!in_phase_two) {
    ASSERT_FALSE(deadline.Expired())
        << "no checkpoint of phase 2 within 90 s:\n"
        << FileText(submit_log_path) << FileText(job_dir + "/logs/workers.log");
    ASSERT_FALSE((*submit)->Poll().has_value()) << "the job ended early:\n"
                                                << FileText(submit_log_path);
    // Mid-phase: not the phase end (phase 1, step 0).
    in_phase_two = testing_util::HasCheckpointOfPhase(job_dir, 1, /*mid_phase=*/true);
    if (!in_phase_two) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll
  }
  StatusOr<proto::JobState> running = ReadJobState(job_dir);
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->state(), "RUNNING");
  ASSERT_GT(running->scheduler_pid(), 1);
  const auto killed_at = std::chrono::system_clock::now();
  ASSERT_EQ(::kill(running->scheduler_pid(), SIGKILL), 0) << "pid " << running->scheduler_pid();

  StatusOr<int> exit_code = (*submit)->Wait(Deadline::After(Duration(120 * 1000)));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  const std::string submit_log = FileText(submit_log_path);
  const std::string scheduler_log = FileText(job_dir + "/logs/scheduler.log");
  ASSERT_EQ(*exit_code, 0) << submit_log << scheduler_log;
  EXPECT_NE(submit_log.find("killed by signal 9"), std::string::npos) << submit_log;
  StatusOr<proto::JobState> state = ReadJobState(job_dir);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->state(), "SUCCEEDED") << state->message();
  EXPECT_EQ(state->restarts(), 1);
  // Every step of the plan, counted by the restarted scheduler.
  EXPECT_NE(scheduler_log.find("phases done at global step " +
                               std::to_string(kCompressionSteps + kMatchingSteps)),
            std::string::npos)
      << scheduler_log;

  // From the workers' log: rank 0's last segment before the kill, where every
  // worker resumed, rank 0's first segment after it.
  const std::vector<testing_util::LogLine> lines =
      testing_util::ProgressLines(FileText(job_dir + "/logs/workers.log"));
  const std::regex resumed_re(
      R"(resumed from (\S+) at phase \d+ step \d+ \(global step (\d+),.* in ([0-9.]+) ms)");
  int64_t last_before = -1;
  int64_t resumed_global = -1;
  int resumed_workers = 0;
  double resume_ms = 0;
  int64_t first_after = -1;
  int64_t first_after_us = -1;
  int64_t final_step = -1;
  for (const testing_util::LogLine& line : lines) {
    std::smatch m;
    if (std::regex_search(line.text, m, resumed_re)) {
      if (resumed_global >= 0) {
        EXPECT_EQ(std::stoll(m[2]), resumed_global);
      }
      resumed_global = std::stoll(m[2]);
      resume_ms = std::max(resume_ms, std::stod(m[3]));
      ++resumed_workers;
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
  EXPECT_EQ(resumed_workers, 2) << "both restarted workers load the checkpoint";
  ASSERT_GT(resumed_global, kCompressionSteps) << "no resume in phase 2 in the workers' log";
  // The restarted scheduler's first epoch starts there.
  EXPECT_NE(scheduler_log.find("sync: the job resumes at phase 1 step " +
                               std::to_string(resumed_global - kCompressionSteps) +
                               " (global step " + std::to_string(resumed_global) + ")"),
            std::string::npos)
      << scheduler_log;
  // A checkpoint stands at a sync point (every 5 steps) at or past a multiple
  // of 20 (or a phase end).
  EXPECT_EQ(resumed_global % kSyncEvery, 0);
  EXPECT_GE(last_before, resumed_global);
  EXPECT_EQ(first_after, resumed_global + 1);  // a line per step (--progress_every=1)
  EXPECT_EQ(final_step, kCompressionSteps + kMatchingSteps);
  // Rank 0 writes before it trains the next segment: no segment completes
  // past the next due sync point without a newer checkpoint.
  const int64_t steps_lost = last_before - resumed_global;
  EXPECT_LE(steps_lost, kEveryN + kSyncEvery - 1);

  const int64_t kill_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(killed_at.time_since_epoch()).count();
  const int64_t detect_ms = state->restart_detected_at_ms() - kill_ms;
  int64_t recover_us = first_after_us - testing_util::LocalTimeOfDayUs(killed_at);
  if (recover_us < 0) recover_us += 86400LL * 1000000;  // past midnight
  EXPECT_GE(detect_ms, 0);
  std::cout << "elastic job: scheduler SIGKILLed at global step ~" << last_before
            << " (rank 0's last segment); detected after " << detect_ms
            << " ms; workers read the checkpoint in <= " << resume_ms
            << " ms; first segment after the resume done " << recover_us / 1000.0
            << " ms after the kill; resumed at global step " << resumed_global
            << ", steps lost " << steps_lost << " (segment granularity); SUCCEEDED with "
            << final_step << " steps, restarts " << state->restarts() << std::endl;
}

}  // namespace
}  // namespace iak::cluster
