// LocalLauncher: runs one job as a local process group: a scheduler, one PS
// process per shard and the workers under mpirun, all on this host over TCP
// loopback. Every wait is bounded; any process failing stops the others and
// the error names it with the tail of its log. Ctrl-C (the `stop` flag)
// stops the whole group.
#ifndef IAK_CLUSTER_LOCAL_LAUNCHER_H_
#define IAK_CLUSTER_LOCAL_LAUNCHER_H_

#include <atomic>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "proto/iak.pb.h"

namespace iak::cluster {

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
};

[[nodiscard]] Status RunLocalJob(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                                 const std::atomic<bool>& stop);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_LOCAL_LAUNCHER_H_
