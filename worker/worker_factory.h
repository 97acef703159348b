// RunWorkerForSpec: runs the worker a job's method needs, so `iak worker`
// and the in-process cluster choose the same way: JobSpec.method "iak" or
// "plain" -> Worker (an IAK adapter per domain), "frozen", "dense", "lora",
// "full" -> MethodWorker (docs/job_spec.md, Methods on the cluster).
#ifndef IAK_WORKER_WORKER_FACTORY_H_
#define IAK_WORKER_WORKER_FACTORY_H_

#include <atomic>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "common/status.h"
#include "model/iak_module.h"
#include "net/transport.h"
#include "worker/worker.h"

namespace iak::worker {

// What a worker left after its run.
struct WorkerRun {
  Status status;
  int64_t steps_done = 0;
  std::vector<std::string> domain_names;
  // Worker (iak, plain): one adapter per domain.
  std::vector<model::IakModule> adapters;
  // MethodWorker: per domain, the trained values (MethodWorker::trained_params).
  std::vector<std::vector<float>> method_params;
};

// Runs the worker for options.spec.method (empty = "iak") to its end.
// `transport` and `communicator` must outlive the call.
WorkerRun RunWorkerForSpec(const WorkerOptions& options, net::Transport* transport,
                           collective::Communicator* communicator,
                           const std::atomic<bool>& stop);

}  // namespace iak::worker

#endif  // IAK_WORKER_WORKER_FACTORY_H_
