#include "cluster/job_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace iak::cluster {
namespace {

// The pid written in an open lock file, or 0.
int ReadPid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  return std::atoi(buf);
}

}  // namespace

std::string JobLockPath(const std::string& output_dir) { return output_dir + "/job.lock"; }

StatusOr<std::unique_ptr<JobLock>> JobLock::Acquire(const std::string& output_dir,
                                                    Deadline deadline) {
  const std::string path = JobLockPath(output_dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open the job lock " + path + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK || deadline.Expired()) {
      const int holder = ReadPid(fd);
      const std::string why = errno == EWOULDBLOCK ? "" : std::string(": ") + std::strerror(errno);
      ::close(fd);
      return FailedPreconditionError(
          "the job in " + output_dir + " is already running" +
          (holder > 0 ? " (supervisor pid " + std::to_string(holder) + ")" : "") + why +
          "; nothing was changed. See `iak status " + output_dir + "`, stop it with `iak cancel " +
          output_dir + "`, or choose another output_dir");
    }
    // Polled, bounded by the deadline: flock has no timed wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    LOG(WARNING) << "cannot record this pid in " << path << ": " << std::strerror(errno);
  }
  return std::unique_ptr<JobLock>(new JobLock(fd));
}

JobLock::~JobLock() {
  // Clear the pid first so a reader never names a process that let go.
  if (::ftruncate(fd_, 0) != 0) {
    // Harmless: the lock itself is what counts.
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

int JobLockHolder(const std::string& output_dir) {
  const int fd = ::open(JobLockPath(output_dir).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int holder = 0;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) holder = ReadPid(fd);
  ::close(fd);  // releases the shared lock if it was taken
  return holder;
}

Status CheckFreshStart(const std::string& checkpoint_dir, bool resume) {
  if (resume || checkpoint_dir.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::directory_iterator it(checkpoint_dir, ec);
  if (ec) return Status::Ok();  // no directory: nothing to restart over
  int found = 0;
  std::string example;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && name.size() > 8 &&
        name.compare(name.size() - 8, 8, ".iakckpt") == 0) {
      ++found;
      if (example.empty() || name > example) example = name;
    }
  }
  if (found == 0) return Status::Ok();
  return FailedPreconditionError(
      checkpoint_dir + " holds " + std::to_string(found) + " checkpoint(s) (newest " + example +
      ") of an earlier run; starting without --resume would train from step 0 next to them. "
      "Pass --resume to continue from the latest, or choose a fresh output_dir "
      "(or checkpoint.directory); nothing was changed");
}

}  // namespace iak::cluster
