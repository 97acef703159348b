// Checkpoints of elastic jobs, in process (docs/elastic.md, "Checkpoints of
// elastic jobs"): the real scheduler (elastic mode), two PS shards and
// elastic trainers as threads (in-process RPC, Gloo over loopback TCP). A
// 3-worker job is stopped as soon as its first checkpoint exists (the whole
// job: workers, scheduler and servers, as a killed job would lose them), then
// resumed from the checkpoint directory with 2 workers (the global cursors
// make the re-split exact) and with 3 workers (bit-identical to an
// uninterrupted run).
//
// The trainers run without the Worker wrapper so that the test sees every
// completed step's sample ids (TrainerOptions::on_step_done) and the
// position each worker resumed at.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/build_config.h"
#include "job/job_spec.h"
#include "net/inproc_transport.h"
#include "ps/ps_server.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_client.h"
#include "tests/testing/inproc_elastic.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/checkpoint.h"
#include "worker/adapter_model.h"
#include "worker/elastic_membership.h"
#include "worker/row_access.h"
#include "worker/trainer.h"
#include "worker/training_setup.h"

namespace iak::cluster {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

// One completed step as one worker saw it.
struct TrainedStep {
  int64_t global_step = 0;
  int domain = 0;
  int64_t data_epoch = 0;
  size_t num_ids = 0;
  std::vector<uint32_t> ids;
};

struct RunResult {
  Status scheduler;
  std::vector<Status> workers;
  std::vector<int64_t> steps_done;
  std::vector<int64_t> final_step;
  std::vector<int64_t> resumed_at;
  std::vector<std::vector<model::IakModule>> adapters;
  std::vector<std::vector<std::vector<float>>> params;  // per worker, per domain
  std::vector<std::vector<TrainedStep>> trained;
  double seconds = 0;
};

class ElasticResumeTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing_util::TempDir("iak_elastic_resume_test");
    ASSERT_TRUE(dir_->ok());
    const Status pretrained = testing_util::PretrainSmallModel(Spec("pretrain", 3));
    ASSERT_TRUE(pretrained.ok()) << pretrained;
  }
  static void TearDownTestSuite() { delete dir_; }

  // 40 compression + 20 matching steps, batch 1024 per worker, a sync point
  // every 4 steps, a checkpoint at the first sync point at or past every 10
  // global steps and at each phase end; all checkpoints kept.
  static proto::JobSpec Spec(const std::string& name, int workers) {
    proto::JobSpec spec = testing_util::SmallMovieLensJob(name, dir_->path() + "/model",
                                                          dir_->path() + "/out-" + name, kBatch);
    spec.set_num_servers(2);
    spec.set_num_workers(workers);
    spec.mutable_elastic()->set_enabled(true);
    spec.mutable_elastic()->set_min_workers(1);
    spec.mutable_elastic()->set_max_workers(3);
    spec.mutable_elastic()->set_sync_every_steps(kSyncEvery);
    spec.mutable_checkpoint()->set_every_n_steps(kEveryN);
    spec.mutable_checkpoint()->set_keep_last(100);
    spec.mutable_timeouts()->set_heartbeat_interval_ms(50);
    spec.mutable_timeouts()->set_heartbeat_timeout_ms(600);
    spec.mutable_timeouts()->set_collective_timeout_ms(2000);
    spec.mutable_timeouts()->set_barrier_timeout_ms(20000);
    spec.mutable_frozen_prefix_cache()->set_mode(proto::FrozenPrefixCacheSpec::MODE_OFF);
    job::ApplyDefaults(&spec);
    return spec;
  }

  static std::string CheckpointDir(const proto::JobSpec& spec) {
    return spec.output_dir() + "/checkpoints";
  }

  // Runs the job with `workers` trainers (rank hints 0..n-1). With
  // `stop_at_checkpoint`, the whole job is stopped as soon as the checkpoint
  // directory holds a file (polled, 30 s deadline).
  static RunResult Run(const proto::JobSpec& spec, bool stop_at_checkpoint) {
    EXPECT_TRUE(job::Validate(spec).ok()) << job::Validate(spec);
    const auto began = SteadyClock::now();
    const size_t n = static_cast<size_t>(spec.num_workers());
    RunResult result;
    result.workers.resize(n);
    result.steps_done.resize(n);
    result.final_step.resize(n);
    result.resumed_at.resize(n);
    result.adapters.resize(n);
    result.params.resize(n);
    result.trained.resize(n);
    net::InProcTransport transport;
    std::atomic<bool> stop{false};          // the scheduler
    std::atomic<bool> stop_servers{false};
    std::atomic<bool> stop_workers{false};
    scheduler::Scheduler scheduler(testing_util::ElasticSchedulerOptions(spec), &transport);
    result.scheduler = scheduler.Start();
    if (!result.scheduler.ok()) return result;
    std::vector<std::thread> threads;
    std::atomic<bool> scheduler_done{false};
    threads.emplace_back([&] {
      result.scheduler = scheduler.Run(stop);
      scheduler_done = true;
    });
    for (int shard = 0; shard < spec.num_servers(); ++shard) {
      threads.emplace_back([&, shard] {
        testing_util::ServeShard(spec, shard, scheduler.address(), &transport, stop_servers);
      });
    }
    std::vector<std::atomic<bool>> done(n);
    std::vector<std::thread> workers;
    for (size_t i = 0; i < n; ++i) {
      workers.emplace_back([&, i] {
        const std::string name = "worker-" + std::to_string(i);
        scheduler::SchedulerClientOptions client_options;
        client_options.scheduler_address = scheduler.address();
        client_options.name = name;
        scheduler::SchedulerClient sched(&transport, client_options);
        proto::RegisterRequest registration;
        registration.set_role(proto::ROLE_WORKER);
        registration.set_rank(static_cast<int>(i));
        registration.set_pid(static_cast<int>(::getpid()));
        StatusOr<int> registered = sched.Register(registration);
        if (!registered.ok()) {
          result.workers[i] = registered.status();
          done[i] = true;
          return;
        }
        sched.StartHeartbeats({});
        std::atomic<int64_t> steps{0};
        std::atomic<int64_t> samples{0};
        std::atomic<double> loss{0};
        worker::PullMonitor pulls;
        StatusOr<worker::TrainingInputs> inputs = worker::LoadTrainingInputs(spec);
        if (!inputs.ok()) {
          result.workers[i] = inputs.status();
          done[i] = true;
          return;
        }
        worker::PsRowAccess rows(spec, &*inputs, name, &transport, &pulls);
        worker::ElasticMembershipOptions membership_options;
        membership_options.name = name;
        membership_options.scheduler_address = scheduler.address();
        membership_options.sync_timeout = Duration(spec.timeouts().barrier_timeout_ms());
        membership_options.collective_timeout = Duration(spec.timeouts().collective_timeout_ms());
        worker::ElasticMembership membership(membership_options, &transport, &sched);
        worker::TrainerOptions options;
        options.spec = spec;
        options.name = name;
        options.compute_threads = 1;
        options.progress_every = 20;
        options.on_step_done = [&result, i](const worker::StepRecord& step) {
          result.trained[i].push_back(
              {step.global_step, step.unit, step.data_epoch, step.num_ids, step.ids});
        };
        worker::Trainer trainer(options, &*inputs, &membership, &rows,
                                {&steps, &samples, &loss, nullptr});
        result.workers[i] = trainer.Run(stop_workers);
        if (result.workers[i].ok()) {
          EXPECT_TRUE(sched.Deregister().ok());
        } else if (!sched.shutdown_requested()) {
          (void)sched.Deregister(result.workers[i].ToString());
        }
        result.steps_done[i] = steps.load();
        result.final_step[i] = trainer.final_global_step();
        result.resumed_at[i] = trainer.resumed_global_step();
        for (size_t u = 0; u < trainer.units().size() && result.workers[i].ok(); ++u) {
          result.params[i].push_back(trainer.model(static_cast<int>(u))->Params());
          auto* adapter = dynamic_cast<worker::AdapterModel*>(trainer.model(static_cast<int>(u)));
          if (adapter != nullptr) result.adapters[i].push_back(adapter->adapter());
        }
        done[i] = true;
      });
    }
    worker::CheckpointStore store({CheckpointDir(spec), 100});
    const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
    for (;;) {
      bool all_done = true;
      for (size_t i = 0; i < n; ++i) all_done = all_done && done[i];
      if (all_done) break;
      if (SteadyClock::now() > deadline) {
        ADD_FAILURE() << "the elastic job did not end within 30 s";
        stop_workers = true;
        break;
      }
      if (stop_at_checkpoint && !stop_workers) {
        StatusOr<std::vector<std::string>> files = store.List();
        if (files.ok() && !files->empty()) stop_workers = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling, not syncing
    }
    for (std::thread& t : workers) t.join();
    // A job that completed: the scheduler ends it by itself and the servers
    // stop with it (bounded wait). Otherwise the servers are stopped first,
    // while the scheduler still answers their goodbye, then the scheduler.
    bool all_ok = true;
    for (const Status& s : result.workers) all_ok = all_ok && s.ok();
    const auto scheduler_deadline = SteadyClock::now() + std::chrono::seconds(10);
    while (all_ok && !scheduler_done && SteadyClock::now() < scheduler_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling, not syncing
    }
    stop_servers = true;
    for (size_t t = 1; t < threads.size(); ++t) threads[t].join();
    stop = true;
    threads[0].join();
    result.seconds = std::chrono::duration<double>(SteadyClock::now() - began).count();
    return result;
  }

  // Copies the interrupted job's checkpoints into `spec`'s directory.
  static void CopyCheckpoints(const proto::JobSpec& from, const proto::JobSpec& to) {
    std::filesystem::create_directories(to.output_dir());
    std::filesystem::copy(CheckpointDir(from), CheckpointDir(to),
                          std::filesystem::copy_options::recursive);
  }

  // Completed steps of the interrupted run before `resumed_at` plus every
  // completed step of the resumed run: within each (domain, data epoch) no id
  // twice, and every closed data epoch (a later one was started) visits all
  // of the domain's ids. Returns the number of steps checked.
  static int64_t ExpectEachIdOncePerDataEpoch(const RunResult& cut, int64_t resumed_at,
                                              const RunResult& resumed) {
    std::map<std::pair<int, int64_t>, std::multiset<uint32_t>> seen;
    std::map<int, int64_t> last_epoch;
    std::map<int, size_t> num_ids;
    std::set<int64_t> steps;
    auto add = [&](const std::vector<std::vector<TrainedStep>>& trained, int64_t before) {
      for (const auto& per_worker : trained) {
        for (const TrainedStep& s : per_worker) {
          if (s.global_step >= before) continue;
          steps.insert(s.global_step);
          auto& ids = seen[{s.domain, s.data_epoch}];
          ids.insert(s.ids.begin(), s.ids.end());
          last_epoch[s.domain] = std::max(last_epoch[s.domain], s.data_epoch);
          num_ids[s.domain] = s.num_ids;
        }
      }
    };
    add(cut.trained, resumed_at);
    add(resumed.trained, INT64_MAX);
    for (const auto& [key, ids] : seen) {
      const std::set<uint32_t> distinct(ids.begin(), ids.end());
      EXPECT_EQ(distinct.size(), ids.size())
          << "domain " << key.first << " data epoch " << key.second << ": "
          << ids.size() - distinct.size() << " id(s) visited twice by completed steps";
      if (key.second < last_epoch[key.first]) {
        EXPECT_EQ(distinct.size(), num_ids[key.first])
            << "domain " << key.first << " data epoch " << key.second << " skipped ids";
      }
    }
    int closed = 0;
    for (const auto& [domain, epoch] : last_epoch) closed += static_cast<int>(epoch);
    std::cout << seen.size() << " (domain, data epoch) pair(s) checked, " << closed
              << " data epoch(s) closed\n";
    // Every global step of the plan was completed once (by some member).
    EXPECT_EQ(static_cast<int64_t>(steps.size()), kPlannedSteps);
    if (!steps.empty()) {
      EXPECT_EQ(*steps.begin(), 0);
      EXPECT_EQ(*steps.rbegin(), kPlannedSteps - 1);
    }
    return static_cast<int64_t>(steps.size());
  }

  // 1024 per worker: every domain's data epoch ends within the 60 steps
  // (after the resume), so the re-split is checked across an epoch's end.
  static constexpr int kBatch = 1024;
  static constexpr int kSyncEvery = 4;
  static constexpr int kEveryN = 10;
  static constexpr int64_t kPlannedSteps = 60;
  static testing_util::TempDir* dir_;
};

testing_util::TempDir* ElasticResumeTest::dir_ = nullptr;

#if IAK_HAVE_GLOO

// The interrupted 3-worker job resumed with 2 workers and with 3: both end at
// the planned 60 steps, starting at the checkpoint's global step; with 3 the
// adapters equal an uninterrupted run's bit for bit.
TEST_F(ElasticResumeTest, StoppedAfterACheckpointResumesWithTwoOrThreeWorkers) {
  const proto::JobSpec reference_spec = Spec("reference", 3);
  RunResult reference = Run(reference_spec, false);
  ASSERT_TRUE(reference.scheduler.ok()) << reference.scheduler;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(reference.workers[i].ok()) << reference.workers[i];
    EXPECT_EQ(reference.final_step[i], kPlannedSteps);
    EXPECT_EQ(reference.resumed_at[i], -1);
  }
  // The uninterrupted run wrote its checkpoints at 12, 20, 32, 40 (phase
  // end), 52 and 60 (the end): the first sync point (every 4 steps) at or
  // past each multiple of 10, and the phase ends.
  worker::CheckpointStore reference_store({CheckpointDir(reference_spec), 100});
  StatusOr<std::vector<std::string>> reference_files = reference_store.List();
  ASSERT_TRUE(reference_files.ok()) << reference_files.status();
  std::vector<std::string> names;
  for (const std::string& f : *reference_files) {
    names.push_back(std::filesystem::path(f).filename().string());
  }
  EXPECT_THAT(names, ::testing::ElementsAre(
                         "ckpt-0000-000000000012.iakckpt", "ckpt-0000-000000000020.iakckpt",
                         "ckpt-0000-000000000032.iakckpt", "ckpt-0001-000000000000.iakckpt",
                         "ckpt-0001-000000000012.iakckpt", "ckpt-0002-000000000000.iakckpt"));

  // Interrupted: the whole job stops once a checkpoint exists.
  const proto::JobSpec cut_spec = Spec("cut", 3);
  RunResult cut = Run(cut_spec, true);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(cut.workers[i].code(), StatusCode::kCancelled) << cut.workers[i];
  }
  worker::CheckpointStore cut_store({CheckpointDir(cut_spec), 100});
  StatusOr<worker::LoadedCheckpoint> latest = cut_store.LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_GE(latest->checkpoint.membership_epoch, 1);
  int64_t checkpoint_step = latest->checkpoint.step;
  for (int p = 0; p < latest->checkpoint.phase_index; ++p) {
    checkpoint_step += cut_spec.phases(p).steps();
  }
  int64_t trained_before_stop = 0;
  for (const auto& per_worker : cut.trained) {
    for (const TrainedStep& s : per_worker) {
      trained_before_stop = std::max(trained_before_stop, s.global_step + 1);
    }
  }
  const int64_t steps_lost = trained_before_stop - checkpoint_step;
  std::cout << "interrupted at global step " << trained_before_stop << ", latest checkpoint "
            << latest->path << " at global step " << checkpoint_step << ": " << steps_lost
            << " step(s) lost\n";
  EXPECT_GE(steps_lost, 0);
  // Rank 0 writes before it trains the next segment, so no member completes
  // a step past the next due sync point without a newer checkpoint.
  EXPECT_LE(steps_lost, kEveryN + kSyncEvery - 1);

  // Resumed with 2 workers.
  proto::JobSpec two_spec = Spec("resumed-2", 2);
  two_spec.mutable_checkpoint()->set_resume(true);
  CopyCheckpoints(cut_spec, two_spec);
  RunResult two = Run(two_spec, false);
  ASSERT_TRUE(two.scheduler.ok()) << two.scheduler;
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(two.workers[i].ok()) << two.workers[i];
    EXPECT_EQ(two.resumed_at[i], checkpoint_step);
    EXPECT_EQ(two.final_step[i], kPlannedSteps);
    // Progress counts the checkpoint's steps as done, then those trained here.
    EXPECT_EQ(two.steps_done[i], kPlannedSteps);
  }
  for (size_t d = 0; d < two.adapters[0].size(); ++d) {
    EXPECT_EQ(two.adapters[0][d].params(), two.adapters[1][d].params()) << "domain " << d;
  }
  ExpectEachIdOncePerDataEpoch(cut, checkpoint_step, two);
  std::cout << "resumed with 2 workers: " << kPlannedSteps - checkpoint_step << " steps in "
            << two.seconds << " s end to end\n";

  // Resumed with 3 workers, as many as wrote it: the noise seeds (seed,
  // segment start, rank), the slices and the Adam state are those of the
  // uninterrupted run, so the result is bit-identical.
  // A corrupt newer file (a crash mid-write that still got renamed, a bad
  // disk) is refused and the previous intact checkpoint used.
  proto::JobSpec three_spec = Spec("resumed-3", 3);
  three_spec.mutable_checkpoint()->set_resume(true);
  CopyCheckpoints(cut_spec, three_spec);
  const std::string corrupt =
      worker::CheckpointStore({CheckpointDir(three_spec), 100})
          .PathFor(latest->checkpoint.phase_index, latest->checkpoint.step + 2);
  {
    std::ofstream out(corrupt, std::ios::binary);
    out << "IAKCKPT1 and then nothing that parses";
  }
  RunResult three = Run(three_spec, false);
  ASSERT_TRUE(three.scheduler.ok()) << three.scheduler;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(three.workers[i].ok()) << three.workers[i];
    EXPECT_EQ(three.resumed_at[i], checkpoint_step);
    EXPECT_EQ(three.final_step[i], kPlannedSteps);
    EXPECT_EQ(three.steps_done[i], kPlannedSteps);
  }
  ExpectEachIdOncePerDataEpoch(cut, checkpoint_step, three);
  ASSERT_EQ(three.adapters[0].size(), reference.adapters[0].size());
  for (size_t d = 0; d < three.adapters[0].size(); ++d) {
    EXPECT_EQ(three.adapters[0][d].params(), reference.adapters[0][d].params())
        << "domain " << d;
  }
  // The uninterrupted run itself tiles every data epoch.
  ExpectEachIdOncePerDataEpoch(RunResult{}, 0, reference);
}

// A checkpoint of another job (here: no domains at all) is refused, naming
// the file. (Static and elastic jobs write the same checkpoints: both keep
// the global cursors, so either resumes the other's.)
TEST_F(ElasticResumeTest, AnotherJobsCheckpointIsRefused) {
  proto::JobSpec spec = Spec("other-ckpt", 1);
  spec.mutable_checkpoint()->set_resume(true);
  worker::Checkpoint c;
  c.job_name = "static";
  c.membership_epoch = 0;
  c.phase_index = 0;
  c.step = 10;
  std::filesystem::create_directories(spec.output_dir());
  worker::CheckpointStore store({CheckpointDir(spec), 3});
  StatusOr<std::string> path = store.Save(c);
  ASSERT_TRUE(path.ok()) << path.status();
  RunResult result = Run(spec, false);
  ASSERT_FALSE(result.workers[0].ok());
  EXPECT_EQ(result.workers[0].code(), StatusCode::kFailedPrecondition) << result.workers[0];
  EXPECT_THAT(result.workers[0].message(), HasSubstr(*path));
  EXPECT_THAT(result.workers[0].message(), HasSubstr("holds 0 domain(s)"));
}

// Methods other than the adapters run elastically through the same trainer:
// a dense job with two members ends with the same models on both.
TEST_F(ElasticResumeTest, DenseFineTuningRunsElastically) {
  proto::JobSpec spec = Spec("dense", 2);
  spec.set_method("dense");
  ASSERT_TRUE(job::Validate(spec).ok()) << job::Validate(spec);
  RunResult result = Run(spec, false);
  ASSERT_TRUE(result.scheduler.ok()) << result.scheduler;
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(result.workers[i].ok()) << result.workers[i];
    EXPECT_EQ(result.final_step[i], kPlannedSteps);
  }
  ASSERT_EQ(result.params[0].size(), 4u);
  EXPECT_EQ(result.params[0], result.params[1]);
  EXPECT_TRUE(result.adapters[0].empty());
}

#else
TEST_F(ElasticResumeTest, NeedsGloo) { GTEST_SKIP() << "built without Gloo (libgloo-dev)"; }
#endif  // IAK_HAVE_GLOO

}  // namespace
}  // namespace iak::cluster
