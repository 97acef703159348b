// Slurm launcher: one sbatch job per IAK-PS job. The batch script starts the
// scheduler, one PS per shard (x replicas) and the workers (mpirun inside the
// allocation) as job steps, and records its exit code next to the logs so
// the outcome is known without Slurm accounting.
#ifndef IAK_CLUSTER_SLURM_LAUNCHER_H_
#define IAK_CLUSTER_SLURM_LAUNCHER_H_

#include <atomic>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "proto/job_spec.pb.h"

namespace iak::cluster {

struct SlurmJobPaths {
  std::string job_spec;    // job.pbtxt, readable on every node
  std::string iak_binary;  // `iak` on every node
  std::string log_dir;     // shared directory for logs and the exit file
};

// The sbatch script for `spec` (pure; tested structurally).
std::string RenderSbatchScript(const proto::JobSpec& spec, const SlurmJobPaths& paths);

// Writes the script to <log_dir>/job.sbatch and submits it; returns the job id.
[[nodiscard]] StatusOr<std::string> SubmitToSlurm(const proto::JobSpec& spec,
                                                  const SlurmJobPaths& paths);

// Waits until job `job_id` left the queue (or `deadline`, or `stop`), then
// returns OK if the batch script exited 0, else the error with its log tail.
[[nodiscard]] Status WaitForSlurmJob(const std::string& job_id, const SlurmJobPaths& paths,
                                     Deadline deadline, const std::atomic<bool>& stop);

// True while the job is pending or running.
[[nodiscard]] StatusOr<bool> SlurmJobActive(const std::string& job_id);

[[nodiscard]] Status CancelSlurmJob(const std::string& job_id);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_SLURM_LAUNCHER_H_
