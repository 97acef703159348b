// InProcCluster: a whole job (scheduler, one PS per shard, the workers) as
// threads of this process over the in-process transport and in-process
// collectives. Same classes as the multi-process path, so tests exercise the
// real scheduler, servers and workers without sockets or processes.
#ifndef IAK_CLUSTER_INPROC_CLUSTER_H_
#define IAK_CLUSTER_INPROC_CLUSTER_H_

#include <atomic>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/iak_module.h"
#include "proto/job_spec.pb.h"
#include "scheduler/job_metrics.h"

namespace iak::cluster {

struct InProcClusterResult {
  Status scheduler;
  std::vector<Status> servers;
  std::vector<Status> workers;
  // Each worker's adapters after the job (identical across workers when the
  // gradients were averaged correctly), and the domains they belong to.
  std::vector<std::vector<model::IakModule>> adapters;
  // Each worker's trained values per domain (the adapter's parameters, or
  // the method's trained parameters; none for frozen), identical likewise.
  std::vector<std::vector<std::vector<float>>> method_params;
  std::vector<std::string> domain_names;
  std::vector<int64_t> steps_done;
  std::vector<uint64_t> keys_pulled;  // per worker: keys looked up on the servers
  // The job's first failure as it happened, named by who had it ("worker-1:
  // ...", or "scheduler: ..." for the scheduler's verdict, which names the
  // node it blames): a node's own error when its thread returned, the
  // scheduler's when it stopped the job (before it told anyone). What
  // follows, e.g. a server refused because it registered after the job had
  // stopped, is a consequence and never replaces it. OK when none failed.
  Status first_failure;

  // first_failure, else the scheduler's status (it did not start), else OK.
  Status Overall() const;
};

// Runs `spec` (defaults applied, validated) to its end. `stop` cancels it.
// The scheduler records into `metrics` when it is not null.
InProcClusterResult RunInProcCluster(const proto::JobSpec& spec, const std::atomic<bool>& stop,
                                     scheduler::JobMetrics* metrics = nullptr);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_INPROC_CLUSTER_H_
