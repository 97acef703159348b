// RegisterWorker: how a worker process (Worker, MethodWorker) joins its job:
// it registers with the scheduler under its rank (or, in an elastic job, its
// rank hint) and pid, then heartbeats its progress, pull statistics and the
// latest validation records (the scheduler's /metrics shows them).
#ifndef IAK_WORKER_WORKER_REGISTRATION_H_
#define IAK_WORKER_WORKER_REGISTRATION_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "proto/checkpoint.pb.h"
#include "proto/wire.pb.h"
#include "scheduler/scheduler_client.h"
#include "worker/row_source.h"
#include "worker/trainer.h"

namespace iak::worker {

// What the heartbeats report; every pointer must outlive the heartbeats
// (until the SchedulerClient is destroyed).
struct WorkerCounters {
  const std::atomic<int64_t>* steps_done = nullptr;
  const std::atomic<int64_t>* samples_done = nullptr;
  const std::atomic<double>* last_loss = nullptr;
  const PullMonitor* pulls = nullptr;
  // The trainer's validation records; null = none sent. A static job passes
  // rank 0's only (every rank holds the same records; one sender is enough).
  const ValidationBoard* validation = nullptr;
};

// What a heartbeat carries for a unit's validation record: its base, latest
// and best figures. False (and nothing filled) before the unit's first
// evaluation.
bool DomainAucOf(const proto::UnitValidation& record, proto::DomainAuc* out);

// Registers as a worker of `rank` and starts the heartbeats (a last one goes
// with a clean deregistration, so the final figures reach the scheduler). The scheduler's
// refusal (or its silence past the client's deadline) is returned as is.
[[nodiscard]] Status RegisterWorker(scheduler::SchedulerClient* scheduler, int rank,
                                    WorkerCounters counters);

}  // namespace iak::worker

#endif  // IAK_WORKER_WORKER_REGISTRATION_H_
