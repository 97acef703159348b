// One supervisor per job directory, and no silent fresh start over an
// earlier run's checkpoints (cluster/job_lock.h). flock conflicts between
// two open file descriptions even within one process, so one test process
// can play both submitters.
#include "cluster/job_lock.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace iak::cluster {
namespace {

using ::testing::HasSubstr;

TEST(JobLockTest, SecondSubmitterIsRefusedNamingTheRunningSupervisor) {
  testing_util::TempDir dir("job_lock_test");
  StatusOr<std::unique_ptr<JobLock>> first = JobLock::Acquire(dir.path(), Deadline::After(Duration(0)));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(JobLockHolder(dir.path()), static_cast<int>(::getpid()));
  StatusOr<std::unique_ptr<JobLock>> second =
      JobLock::Acquire(dir.path(), Deadline::After(Duration(50)));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              HasSubstr("already running (supervisor pid " + std::to_string(::getpid()) + ")"));
  EXPECT_THAT(second.status().message(), HasSubstr("iak cancel " + dir.path()));
  first->reset();  // the supervisor exits
  EXPECT_EQ(JobLockHolder(dir.path()), 0);
  StatusOr<std::unique_ptr<JobLock>> third = JobLock::Acquire(dir.path(), Deadline::After(Duration(0)));
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(JobLockTest, FreshStartOverCheckpointsIsRefusedUnlessResuming) {
  testing_util::TempDir dir("job_lock_test");
  const std::string checkpoints = dir.path() + "/checkpoints";
  EXPECT_TRUE(CheckFreshStart(checkpoints, /*resume=*/false).ok());  // no directory yet
  std::filesystem::create_directories(checkpoints);
  std::ofstream(checkpoints + "/notes.txt") << "x";
  EXPECT_TRUE(CheckFreshStart(checkpoints, false).ok());  // no checkpoint file
  std::ofstream(checkpoints + "/ckpt-0001-000000000200.iakckpt") << "x";
  Status refused = CheckFreshStart(checkpoints, false);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("--resume"));
  EXPECT_THAT(refused.message(), HasSubstr("fresh output_dir"));
  EXPECT_THAT(refused.message(), HasSubstr("ckpt-0001-000000000200.iakckpt"));
  EXPECT_TRUE(CheckFreshStart(checkpoints, /*resume=*/true).ok());
}

}  // namespace
}  // namespace iak::cluster
