// RegisterWorker: how a worker process (Worker, MethodWorker) joins its job:
// it registers with the scheduler under its rank (or, in an elastic job, its
// rank hint) and pid, then heartbeats its progress and pull statistics.
#ifndef IAK_WORKER_WORKER_REGISTRATION_H_
#define IAK_WORKER_WORKER_REGISTRATION_H_

#include <atomic>
#include <cstdint>

#include "common/status.h"
#include "scheduler/scheduler_client.h"
#include "worker/row_source.h"

namespace iak::worker {

// What the heartbeats report; every pointer must outlive the heartbeats
// (until the SchedulerClient is destroyed).
struct WorkerCounters {
  const std::atomic<int64_t>* steps_done = nullptr;
  const std::atomic<int64_t>* samples_done = nullptr;
  const std::atomic<double>* last_loss = nullptr;
  const PullMonitor* pulls = nullptr;
};

// Registers as a worker of `rank` and starts the heartbeats. The scheduler's
// refusal (or its silence past the client's deadline) is returned as is.
[[nodiscard]] Status RegisterWorker(scheduler::SchedulerClient* scheduler, int rank,
                                    WorkerCounters counters);

}  // namespace iak::worker

#endif  // IAK_WORKER_WORKER_REGISTRATION_H_
