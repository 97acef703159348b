#include "worker/worker_registration.h"

#include <unistd.h>

namespace iak::worker {

bool DomainAucOf(const proto::UnitValidation& record, proto::DomainAuc* out) {
  if (!record.evaluated() || record.curve_size() == 0) return false;
  const proto::ValidationPoint& latest = record.curve(record.curve_size() - 1);
  out->set_domain(record.unit());
  out->set_base_auc(record.base_auc());
  out->set_base_logloss(record.base_logloss());
  out->set_iak_auc(latest.auc());
  out->set_logloss(latest.logloss());
  out->set_step(latest.global_step());
  out->set_best_auc(record.best_auc());
  out->set_best_step(record.best_step());
  out->set_stopped(record.stopped());
  return true;
}

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
    beat->set_keys_looked_up(counters.pulls->keys_read());
    beat->set_keys_missing(counters.pulls->keys_read_missing());
    if (counters.validation == nullptr) return;
    for (const proto::UnitValidation& record : counters.validation->Read()) {
      proto::DomainAuc auc;
      if (DomainAucOf(record, &auc)) *beat->add_domain_auc() = std::move(auc);
    }
  });
  return Status::Ok();
}

}  // namespace iak::worker
