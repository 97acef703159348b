// JobMetrics: what the scheduler knows about a running job (membership, phase,
// each worker's step, loss, throughput, pull latency, cache hit rate, domain
// AUCs), rendered in the Prometheus text format for its /metrics endpoint.
//
// Thread-safety: thread-safe. The scheduler's thread records; the HTTP
// server's thread renders.
#ifndef IAK_SCHEDULER_JOB_METRICS_H_
#define IAK_SCHEDULER_JOB_METRICS_H_

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "proto/iak.pb.h"

namespace iak::scheduler {

class JobMetrics {
 public:
  explicit JobMetrics(std::string job_name) : job_name_(std::move(job_name)) {}

  void NodeRegistered(const std::string& name, proto::Role role);
  void NodeLeft(const std::string& name);
  void NodeDead(const std::string& name);
  void Heartbeat(const std::string& name, const proto::Heartbeat& beat, TimePoint now);
  // `phase_index` counts from 0 in plan order; `phase` is the command's phase.
  void PhaseStarted(int phase_index, proto::Phase phase);
  void JobEnded(const std::string& state);  // "finished", "failed", "cancelled"

  // The Prometheus text exposition of everything above.
  std::string RenderPrometheus() const;

 private:
  struct NodeStats {
    proto::Role role = proto::ROLE_UNSPECIFIED;
    std::string status = "alive";  // alive, left, dead
    proto::Heartbeat last;
    double samples_per_s = 0;
    TimePoint last_time;
    bool has_beat = false;
  };

  const std::string job_name_;
  mutable std::mutex mu_;
  std::map<std::string, NodeStats> nodes_;  // guarded by mu_
  std::map<std::string, proto::DomainAuc> domain_auc_;  // guarded by mu_
  int phase_index_ = -1;                    // guarded by mu_
  proto::Phase phase_ = proto::PHASE_UNSPECIFIED;  // guarded by mu_
  std::string state_ = "running";           // guarded by mu_
};

}  // namespace iak::scheduler

#endif  // IAK_SCHEDULER_JOB_METRICS_H_
