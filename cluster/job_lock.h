// JobLock: one supervisor per job directory. The process that supervises a
// local/mpirun job holds an exclusive lock (flock) on <output_dir>/job.lock
// for the job's life, with its pid written in the file; a second `iak
// submit` of the same output_dir is refused before it writes anything (job
// state, spec, logs) with a message naming the running supervisor. The
// kernel drops the lock when the holder exits, however it exits, so a
// crashed supervisor never leaves a stale lock.
//
// CheckFreshStart refuses a start without --resume into a checkpoint
// directory that already holds checkpoints, which would otherwise restart
// the job from step 0 next to (and later over) them.
//
// Thread-safety: a JobLock is owned by one thread; the functions are
// thread-compatible.
#ifndef IAK_CLUSTER_JOB_LOCK_H_
#define IAK_CLUSTER_JOB_LOCK_H_

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace iak::cluster {

std::string JobLockPath(const std::string& output_dir);

class JobLock {
 public:
  // Takes the lock of `output_dir` (which must exist), waiting until
  // `deadline` for a holder to let go (Deadline::After(Duration(0)): try
  // once). FailedPrecondition naming the holder's pid and what to do when
  // another process holds it; IoError when the file cannot be opened.
  [[nodiscard]] static StatusOr<std::unique_ptr<JobLock>> Acquire(const std::string& output_dir,
                                                                  Deadline deadline);
  ~JobLock();  // releases the lock

  JobLock(const JobLock&) = delete;
  JobLock& operator=(const JobLock&) = delete;

 private:
  explicit JobLock(int fd) : fd_(fd) {}
  int fd_;
};

// The pid recorded by the lock's holder, or 0 when none is recorded or the
// lock is free.
int JobLockHolder(const std::string& output_dir);

// OK when `resume` or `checkpoint_dir` holds no checkpoint file
// (ckpt-*.iakckpt); else FailedPrecondition naming the directory and saying
// to pass --resume or choose a fresh output_dir.
[[nodiscard]] Status CheckFreshStart(const std::string& checkpoint_dir, bool resume);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_JOB_LOCK_H_
