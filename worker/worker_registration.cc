#include "worker/worker_registration.h"

#include <unistd.h>

namespace iak::worker {

Status RegisterWorker(scheduler::SchedulerClient* scheduler, int rank, WorkerCounters counters) {
  proto::RegisterRequest registration;
  registration.set_role(proto::ROLE_WORKER);
  registration.set_rank(rank);
  registration.set_pid(static_cast<int>(::getpid()));
  IAK_RETURN_IF_ERROR(scheduler->Register(registration).status());
  scheduler->StartHeartbeats([counters](proto::Heartbeat* beat) {
    beat->set_step(counters.steps_done->load());
    beat->set_loss(counters.last_loss->load());
    beat->set_samples(counters.samples_done->load());
    beat->set_pull_latency_ms(counters.pulls->mean_pull_ms.load());
    beat->set_cache_hit_rate(counters.pulls->cache_hit_rate.load());
    beat->set_keys_looked_up(counters.pulls->keys_looked_up.load());
    beat->set_keys_missing(counters.pulls->keys_missing.load());
  });
  return Status::Ok();
}

}  // namespace iak::worker
