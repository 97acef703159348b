// LocalLauncher: runs one job as a local process group: a scheduler, one PS
// process per shard and the workers under mpirun, all on this host over TCP
// loopback. Every wait is bounded; any process failing stops the others and
// the error names it with the tail of its log. Ctrl-C (the `stop` flag)
// stops the whole group.
//
// Scheduler restart: when the scheduler is killed by a signal (SIGKILL, a
// crash) while the job runs, the launcher notices at its next tick (it polls
// its children every 10 ms), stops the rest of the group at once and starts
// scheduler, PS and workers again with `--resume`: the workers continue from
// the latest intact checkpoint (docs/elastic.md, "Scheduler restart"), up to
// `max_restarts` times. A scheduler that exits with an error (it judged the
// job failed) is not restarted, nor is a failing worker or PS.
//
// Elastic jobs (JobSpec.elastic.enabled): the workers are separate `iak
// worker` processes (no mpirun); one of them exiting does not end the job
// (the scheduler decides), and `iak scale` asks for more through
// <run_dir>/scale.request (cluster/scale_request_file.h).
#ifndef IAK_CLUSTER_LOCAL_LAUNCHER_H_
#define IAK_CLUSTER_LOCAL_LAUNCHER_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "proto/job_spec.pb.h"

namespace iak::cluster {

// What the launcher tells its supervisor while the job runs.
struct LaunchEvent {
  enum class Kind { kStarted, kRestarting };
  Kind kind = Kind::kStarted;
  int restarts = 0;  // restarts so far (kRestarting: including this one)
  // kStarted: where the scheduler listens and its pid.
  std::string scheduler_address;
  int scheduler_pid = 0;
  // kRestarting: why, and when the launcher noticed (ms since the epoch).
  std::string reason;
  int64_t detected_at_ms = 0;
};

struct LocalLaunchOptions {
  std::string iak_binary;     // the `iak` executable every node runs
  std::string job_spec_path;  // job.pbtxt, read by every node
  std::string run_dir;        // logs (scheduler.log, ps-N.log, workers.log)
  // mpirun for the workers (the collective is MPI); default "mpirun".
  std::string mpirun = "mpirun";
  Duration job_timeout = Duration(30 * 60 * 1000);
  Duration startup_timeout = Duration(30 * 1000);
  // Show the workers' progress on stderr while the job runs: a bar with rate
  // and ETA on a terminal, a line per update otherwise.
  bool echo_progress = true;
  // Spread the workers over the hosts of this Open MPI hostfile (the
  // "mpirun" launcher); empty = all on this host. The scheduler and the
  // parameter servers stay on this host.
  std::string hostfile;
  // The address other hosts reach this one at (scheduler and PS listen
  // there). Default 127.0.0.1, which only works on one host.
  std::string advertise_host = "127.0.0.1";
  // Restarts from the latest checkpoint after the scheduler died (see above);
  // 0 = never.
  int max_restarts = 0;
  // Extra arguments for every worker (e.g. --progress_every=1).
  std::vector<std::string> worker_args;
  // Called (on the launcher's thread) when the group is up and when it is
  // restarted: the supervisor records it in the job state.
  std::function<void(const LaunchEvent&)> on_event;
  // How often the launcher polls its children.
  Duration tick = Duration(10);
};

[[nodiscard]] Status RunLocalJob(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                                 const std::atomic<bool>& stop);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_LOCAL_LAUNCHER_H_
