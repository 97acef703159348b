// Checkpoints and --resume end to end: a whole in-process cluster (scheduler,
// 2 PS, 2 workers) on the bundled MovieLens data is interrupted after a
// checkpoint, then resumed; its adapters must equal an uninterrupted run's
// bit for bit, and the job must end with the same number of steps.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "cluster/child_process.h"
#include "cluster/inproc_cluster.h"
#include "cluster/job_state.h"
#include "job/job_spec.h"
#include "tests/testing/checkpoint_files.h"
#include "tests/testing/file_text.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/checkpoint.h"

namespace iak::cluster {
namespace {

using testing_util::FileText;

namespace fs = std::filesystem;

class ResumeTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_resume_test");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain"));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
    // The reference: the same plan, never interrupted.
    std::atomic<bool> stop{false};
    InProcClusterResult reference = RunInProcCluster(Spec("reference"), stop);
    ASSERT_TRUE(reference.Overall().ok()) << reference.Overall();
    reference_ = new InProcClusterResult(std::move(reference));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete reference_;
  }

  // 40 compression + 20 matching steps, 4 domains; a checkpoint every 10
  // steps and at each phase end. The frozen-prefix cache is off: with it, a
  // resumed run recomputes the bottom for samples the uninterrupted run took
  // from its cache, in other batch compositions (equal up to GEMM blocking,
  // not necessarily bit for bit).
  static proto::JobSpec Spec(const std::string& run) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob("resume-test", dir_->path() + "/model",
                                                          dir_->path() + "/" + run);
    spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
    spec.mutable_checkpoint()->set_every_n_steps(10);
    // Validation at the checkpoints' steps: a run cut at a phase end (whose
    // plan ends there, so it validates there) sees the same evaluations as
    // the uninterrupted one.
    spec.mutable_validation()->set_every_n_steps(10);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static void ExpectEqualsReference(const InProcClusterResult& resumed) {
    ASSERT_EQ(resumed.adapters.size(), reference_->adapters.size());
    for (size_t w = 0; w < resumed.adapters.size(); ++w) {
      // The resumed job ends with the same number of steps.
      EXPECT_EQ(resumed.steps_done[w], 60) << "worker " << w;
      ASSERT_EQ(resumed.adapters[w].size(), 4u);
      for (size_t d = 0; d < 4; ++d) {
        EXPECT_EQ(resumed.adapters[w][d].params(), reference_->adapters[w][d].params())
            << "worker " << w << " domain " << d;
      }
    }
  }

  static testing_util::TempDir* dir_;
  static InProcClusterResult* reference_;
};

testing_util::TempDir* ResumeTest::dir_ = nullptr;
InProcClusterResult* ResumeTest::reference_ = nullptr;

// The first run's plan ends after the compression phase (the scheduler
// finishes it there): checkpoints at steps 10, 20, 30 and the phase end (40).
// The resumed run has the full plan and continues at the matching phase.
TEST_F(ResumeTest, ResumeAtPhaseBoundaryEqualsUninterruptedRun) {
  proto::JobSpec first = Spec("boundary");
  first.mutable_phases()->RemoveLast();
  std::atomic<bool> stop{false};
  InProcClusterResult cut = RunInProcCluster(first, stop);
  ASSERT_TRUE(cut.Overall().ok()) << cut.Overall();
  EXPECT_EQ(cut.steps_done[0], 40);

  worker::CheckpointStoreOptions store_options;
  store_options.dir = first.output_dir() + "/checkpoints";
  worker::CheckpointStore store(store_options);
  StatusOr<std::vector<std::string>> files = store.List();
  ASSERT_TRUE(files.ok()) << files.status();
  // keep_last = 3: steps 20 and 30 of phase 0, and its end (phase 1, step 0).
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ(files->back(), store.PathFor(1, 0));

  proto::JobSpec resumed = Spec("boundary");
  resumed.mutable_checkpoint()->set_resume(true);
  const auto begin = std::chrono::steady_clock::now();
  InProcClusterResult result = RunInProcCluster(resumed, stop);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  ExpectEqualsReference(result);
  // The resumed run wrote the matching phase's checkpoints after the old ones.
  StatusOr<std::vector<std::string>> after = store.List();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->back(), store.PathFor(2, 0));
  std::cout << "resumed job (20 of 60 steps left) ran in " << seconds << " s\n";
}

// The newest checkpoint is corrupted (one flipped byte): resume refuses it
// and continues from the previous one, in the middle of the compression
// phase: the data cursors continue from the checkpoint's.
TEST_F(ResumeTest, CorruptNewestCheckpointFallsBackToThePreviousOneMidPhase) {
  proto::JobSpec first = Spec("corrupt");
  first.mutable_phases()->RemoveLast();
  std::atomic<bool> stop{false};
  InProcClusterResult cut = RunInProcCluster(first, stop);
  ASSERT_TRUE(cut.Overall().ok()) << cut.Overall();

  worker::CheckpointStoreOptions store_options;
  store_options.dir = first.output_dir() + "/checkpoints";
  worker::CheckpointStore store(store_options);
  const std::string newest = store.PathFor(1, 0);
  {
    std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << newest;
    f.seekg(200);
    char byte = 0;
    f.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x5a);
    f.seekp(200);
    f.write(&byte, 1);
  }
  StatusOr<worker::LoadedCheckpoint> loaded = store.LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->path, store.PathFor(0, 30));
  ASSERT_EQ(loaded->refused.size(), 1u);
  EXPECT_EQ(loaded->refused[0].first, newest);
  EXPECT_NE(loaded->refused[0].second.ToString().find(newest), std::string::npos);

  proto::JobSpec resumed = Spec("corrupt");
  resumed.mutable_checkpoint()->set_resume(true);
  InProcClusterResult result = RunInProcCluster(resumed, stop);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  ExpectEqualsReference(result);
}

// A real interruption: the job is cancelled through the stop flag as soon as
// a checkpoint exists (polled with a deadline), then resumed from whatever
// the latest checkpoint is; the outcome does not depend on where it stopped.
TEST_F(ResumeTest, CancelledJobResumesToTheUninterruptedResult) {
  proto::JobSpec first = Spec("cancelled");
  first.mutable_checkpoint()->set_every_n_steps(5);
  // The stop flag reaches the workers at different steps; the one still in
  // an all-reduce gives up after this deadline.
  first.mutable_timeouts()->set_collective_timeout_ms(2000);
  const std::string ckpt_dir = first.output_dir() + "/checkpoints";
  std::atomic<bool> stop{false};
  std::unique_ptr<InProcClusterResult> cut;
  std::thread job([&] { cut = std::make_unique<InProcClusterResult>(RunInProcCluster(first, stop)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(ckpt_dir, ec)) {
      if (entry.path().extension() == ".iakckpt") seen = true;
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll interval
  }
  stop = true;
  job.join();
  ASSERT_TRUE(seen) << "no checkpoint in " << ckpt_dir << " within 30 s";

  worker::CheckpointStoreOptions store_options;
  store_options.dir = ckpt_dir;
  worker::CheckpointStore store(store_options);
  StatusOr<worker::LoadedCheckpoint> loaded = store.LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const int64_t saved = loaded->checkpoint.phase_index == 0 ? loaded->checkpoint.step
                                                            : 40 + loaded->checkpoint.step;
  std::cout << "interrupted after " << cut->steps_done[0] << " steps ("
            << cut->Overall().ToString() << "); latest checkpoint at global step " << saved
            << "; steps lost: " << cut->steps_done[0] - saved << "\n";
  EXPECT_GE(cut->steps_done[0], saved);

  proto::JobSpec resumed = Spec("cancelled");
  resumed.mutable_checkpoint()->set_every_n_steps(5);
  resumed.mutable_checkpoint()->set_resume(true);
  stop = false;
  const auto begin = std::chrono::steady_clock::now();
  InProcClusterResult result = RunInProcCluster(resumed, stop);
  std::cout << "resumed run took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count()
            << " s\n";
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  ExpectEqualsReference(result);
}

// A directory with no checkpoint at all: --resume starts from the beginning.
TEST_F(ResumeTest, ResumeWithoutCheckpointStartsFromScratch) {
  proto::JobSpec spec = Spec("fresh");
  spec.mutable_checkpoint()->set_resume(true);
  std::atomic<bool> stop{false};
  InProcClusterResult result = RunInProcCluster(spec, stop);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  ExpectEqualsReference(result);
}

// Every checkpoint corrupt: a clear DataLoss naming the files, not a silent
// fresh start.
TEST_F(ResumeTest, NoIntactCheckpointIsAClearError) {
  proto::JobSpec first = Spec("all-corrupt");
  first.mutable_phases()->RemoveLast();
  first.mutable_phases(0)->set_steps(10);
  std::atomic<bool> stop{false};
  ASSERT_TRUE(RunInProcCluster(first, stop).Overall().ok());
  const std::string only = first.output_dir() + "/checkpoints/ckpt-0001-000000000000.iakckpt";
  ASSERT_TRUE(fs::exists(only));
  fs::resize_file(only, 100);

  proto::JobSpec resumed = Spec("all-corrupt");
  resumed.mutable_checkpoint()->set_resume(true);
  resumed.mutable_timeouts()->set_startup_timeout_ms(5000);
  InProcClusterResult result = RunInProcCluster(resumed, stop);
  ASSERT_FALSE(result.Overall().ok());
  EXPECT_NE(result.Overall().ToString().find("ckpt-0001-000000000000.iakckpt"), std::string::npos)
      << result.Overall();
}

// With the frozen-prefix cache on (the default) and batches large enough for
// every domain to wrap into later data epochs, the uninterrupted run takes h
// from its cache while the resumed one recomputes it in other batches. The
// bottom's rows do not depend on the rest of the batch with the BLAS we use,
// and the adapters come out bit-identical here; the test allows 1e-6
// (GEMM kernels are free to block differently by batch size) and prints
// whether they were exact.
TEST_F(ResumeTest, ResumeWithFrozenPrefixCacheAcrossDataEpochs) {
  auto spec = [](const std::string& run) {
    proto::JobSpec s = Spec(run);
    s.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_AUTO);
    s.set_batch_size(1024);
    s.mutable_phases(0)->set_steps(60);
    s.mutable_phases(1)->set_steps(30);
    return s;
  };
  std::atomic<bool> stop{false};
  InProcClusterResult reference = RunInProcCluster(spec("cache-reference"), stop);
  ASSERT_TRUE(reference.Overall().ok()) << reference.Overall();
  proto::JobSpec first = spec("cache-cut");
  first.mutable_phases()->RemoveLast();
  ASSERT_TRUE(RunInProcCluster(first, stop).Overall().ok());
  // Resume mid-phase (step 50), well into the cached epochs.
  fs::remove(first.output_dir() + "/checkpoints/ckpt-0001-000000000000.iakckpt");
  proto::JobSpec resumed = spec("cache-cut");
  resumed.mutable_checkpoint()->set_resume(true);
  InProcClusterResult result = RunInProcCluster(resumed, stop);
  ASSERT_TRUE(result.Overall().ok()) << result.Overall();
  double max_diff = 0;
  for (size_t w = 0; w < 2; ++w) {
    EXPECT_EQ(result.steps_done[w], 90);
    for (size_t d = 0; d < 4; ++d) {
      const std::vector<float>& a = reference.adapters[w][d].params();
      const std::vector<float>& b = result.adapters[w][d].params();
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[i] - b[i])));
      }
    }
  }
  EXPECT_LE(max_diff, 1e-6);
  std::cout << "cache on: max |resumed - uninterrupted| = " << max_diff
            << (max_diff == 0 ? " (bit-identical)" : "") << "\n";
}

TEST(CheckpointSpecTest, DefaultsAndValidationNameTheField) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  job::ApplyDefaults(&spec);
  EXPECT_EQ(spec.checkpoint().every_n_steps(), 100);
  EXPECT_EQ(spec.checkpoint().keep_last(), 3);
  EXPECT_TRUE(spec.checkpoint().directory().empty());  // = <output_dir>/checkpoints
  EXPECT_FALSE(spec.checkpoint().resume());
  EXPECT_EQ(spec.frozen_prefix_cache().memory_budget_mb(), 1024);
  ASSERT_TRUE(job::Validate(spec).ok()) << job::Validate(spec);

  proto::JobSpec bad = spec;
  bad.mutable_checkpoint()->set_keep_last(-1);
  Status status = job::Validate(bad);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.ToString().find("checkpoint.keep_last"), std::string::npos) << status;
  bad = spec;
  bad.mutable_frozen_prefix_cache()->set_memory_budget_mb(-5);
  status = job::Validate(bad);
  EXPECT_NE(status.ToString().find("frozen_prefix_cache.memory_budget_mb"), std::string::npos)
      << status;
}

// The same through the command line and real processes (`iak submit`, local
// launcher, 2 MPI workers over TCP): a job cut after its first phase, its
// newest checkpoint corrupted, then `iak submit --resume` with the full plan
// writes adapter files byte-identical to an uninterrupted `iak submit`.
TEST_F(ResumeTest, SubmitResumeAcrossProcessesGivesTheUninterruptedAdapters) {
  auto submit = [](const proto::JobSpec& spec, const std::string& file, bool resume) {
    const std::string path = dir_->path() + "/" + file + ".pbtxt";
    EXPECT_TRUE(job::SaveJobSpec(spec, path).ok());
    std::vector<std::string> argv = {IAK_BINARY, "submit", path};
    if (resume) argv.push_back("--resume");
    std::string out;
    StatusOr<int> code = RunAndCapture(argv, Deadline::After(Duration(120 * 1000)), &out);
    EXPECT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(code.ok() ? *code : -1, 0) << out;
  };
  submit(Spec("cli-reference"), "cli-reference", false);
  proto::JobSpec first = Spec("cli-cut");
  first.mutable_phases()->RemoveLast();
  submit(first, "cli-cut-first", false);
  const std::string ckpt_dir = first.output_dir() + "/checkpoints/";
  fs::resize_file(ckpt_dir + "ckpt-0001-000000000000.iakckpt", 64);  // truncated
  submit(Spec("cli-cut"), "cli-cut-resumed", true);
  for (const char* domain : {"2004-2007", "2008-2011", "2012-2015", "2016-2018"}) {
    const std::string x = FileText(dir_->path() + "/cli-reference/adapters/" + domain + ".iak");
    const std::string y = FileText(dir_->path() + "/cli-cut/adapters/" + domain + ".iak");
    ASSERT_FALSE(x.empty()) << domain;
    EXPECT_TRUE(x == y) << "resumed adapter differs for " << domain;
  }
  const std::string logs = FileText(dir_->path() + "/cli-cut/logs/workers.log");
  EXPECT_NE(logs.find("resumed from " + ckpt_dir + "ckpt-0000-000000000030.iakckpt"),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("truncated"), std::string::npos) << logs;
}

// A crash: a detached `iak submit` job whose rank-0 worker is killed with
// SIGKILL once a checkpoint of the second phase exists. The job fails (it is
// not elastic yet); `iak submit --resume` then finishes it from the latest
// checkpoint with adapters byte-identical to an uninterrupted run.
TEST_F(ResumeTest, KilledWorkerJobResumesToTheUninterruptedAdapters) {
  auto spec = [](const std::string& run) {
    proto::JobSpec s = Spec(run);
    s.mutable_phases(1)->set_steps(300);
    s.mutable_checkpoint()->set_every_n_steps(20);
    // The scheduler notices the killed worker by its heartbeat (and mpirun
    // ends its rank); the all-reduce keeps the default deadline, which a
    // worker starved on a loaded machine would otherwise miss.
    s.mutable_timeouts()->set_heartbeat_timeout_ms(3000);
    return s;
  };
  auto run = [](const std::vector<std::string>& argv) {
    std::string out;
    StatusOr<int> code = RunAndCapture(argv, Deadline::After(Duration(120 * 1000)), &out);
    EXPECT_TRUE(code.ok()) << code.status();
    return std::make_pair(code.ok() ? *code : -1, out);
  };
  const std::string ref_path = dir_->path() + "/kill-reference.pbtxt";
  // Nothing is killed in the reference: it keeps the default timeouts, so a
  // loaded machine cannot fail it (timeouts do not change the adapters).
  proto::JobSpec reference = spec("kill-reference");
  reference.clear_timeouts();
  job::ApplyDefaults(&reference);
  ASSERT_TRUE(job::SaveJobSpec(reference, ref_path).ok());
  auto [ref_code, ref_out] = run({IAK_BINARY, "submit", ref_path});
  ASSERT_EQ(ref_code, 0) << ref_out;

  const proto::JobSpec killed = spec("kill-cut");
  const std::string path = dir_->path() + "/kill-cut.pbtxt";
  ASSERT_TRUE(job::SaveJobSpec(killed, path).ok());
  auto [code, out] = run({IAK_BINARY, "submit", path, "--detach"});
  ASSERT_EQ(code, 0) << out;
  const std::string job_dir = killed.output_dir();
  const Deadline deadline = Deadline::After(Duration(60000));
  bool in_phase_two = false;
  while (!in_phase_two) {
    ASSERT_FALSE(deadline.Expired()) << "no checkpoint of phase 2 within 60 s";
    // Final names only (a temporary file of a checkpoint being written does not count).
    in_phase_two = testing_util::HasCheckpointOfPhase(job_dir, 1);
    if (!in_phase_two) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll
  }
  const std::string sched_log = FileText(job_dir + "/logs/scheduler.log");
  const std::string marker = "worker-0 (node ";
  size_t at = sched_log.find(marker);
  ASSERT_NE(at, std::string::npos) << sched_log;
  at = sched_log.find(" pid ", at);
  ASSERT_NE(at, std::string::npos) << sched_log;
  const int pid = std::atoi(sched_log.c_str() + at + 5);
  ASSERT_GT(pid, 1);
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "worker pid " << pid;
  const auto killed_at = std::chrono::steady_clock::now();
  while (true) {
    StatusOr<proto::JobState> state = ReadJobState(job_dir);
    ASSERT_TRUE(state.ok()) << state.status();
    if (state->state() != "RUNNING" && state->state() != "SUBMITTED") {
      EXPECT_EQ(state->state(), "FAILED");
      break;
    }
    ASSERT_FALSE(deadline.Expired()) << "the job did not end after its worker was killed";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll
  }
  const double detect_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  worker::CheckpointStoreOptions store_options;
  store_options.dir = job_dir + "/checkpoints";
  StatusOr<worker::LoadedCheckpoint> latest = worker::CheckpointStore(store_options).LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status();

  const auto begin = std::chrono::steady_clock::now();
  auto [resumed_code, resumed_out] = run({IAK_BINARY, "submit", path, "--resume"});
  ASSERT_EQ(resumed_code, 0) << resumed_out;
  std::cout << "worker SIGKILLed; job ended after " << detect_s << " s; resumed from phase "
            << latest->checkpoint.phase_index << " step " << latest->checkpoint.step
            << "; the resumed job took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count()
            << " s\n";
  for (const char* domain : {"2004-2007", "2008-2011", "2012-2015", "2016-2018"}) {
    const std::string x = FileText(dir_->path() + "/kill-reference/adapters/" + domain + ".iak");
    const std::string y = FileText(job_dir + "/adapters/" + domain + ".iak");
    ASSERT_FALSE(x.empty()) << domain;
    EXPECT_TRUE(x == y) << "resumed adapter differs for " << domain;
  }
}

}  // namespace
}  // namespace iak::cluster
