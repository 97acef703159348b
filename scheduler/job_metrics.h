// JobMetrics: what the scheduler knows about a running job (membership, phase,
// each worker's step, loss, throughput, pull latency, cache hit rate, each
// domain's validation figures), rendered in the Prometheus text format for
// its /metrics endpoint. Label values are escaped (backslash, quote, newline),
// so a job, worker or domain name cannot break the exposition. What a
// heartbeat can make it hold is bounded: at most kMaxMetricDomains domains
// (later new names are dropped and counted) of names up to
// kMaxMetricDomainName bytes, so a bad or hostile node cannot grow it. Of
// the nodes that left or died, the kMaxMetricEndedNodes that ended last are
// kept (older ones are forgotten, as the scheduler forgets old left nodes),
// so neither can registrations that come and go. Records for a name never
// registered (or forgotten) are ignored.
//
// Thread-safety: thread-safe. The scheduler's thread records; the HTTP
// server's thread renders.
#ifndef IAK_SCHEDULER_JOB_METRICS_H_
#define IAK_SCHEDULER_JOB_METRICS_H_

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "proto/job_spec.pb.h"
#include "proto/wire.pb.h"

namespace iak::scheduler {

// Far above any job's domains; the records beyond are dropped.
inline constexpr size_t kMaxMetricDomains = 10000;
inline constexpr size_t kMaxMetricDomainName = 256;
// Left or dead nodes kept (as the scheduler's kMaxLeftNodes).
inline constexpr size_t kMaxMetricEndedNodes = 1024;

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

  // The Prometheus text exposition of everything above. Domains appear once
  // a worker reported them (JobSpec.validation on):
  //   iak_domain_auc{domain,model="base"|"tuned"|"best"}  validation AUC of
  //     the frozen base, of the latest evaluation, of the best so far;
  //   iak_domain_logloss{domain,model="base"|"tuned"};
  //   iak_domain_stopped{domain}  1 once early-stopped;
  //   iak_domain_validation_step / iak_domain_best_step{domain}  global step
  //     of the latest and of the best evaluation (0 = the base; -1 = the
  //     base had no AUC, so nothing is selected).
  // An AUC of a one-class split is NaN.
  std::string RenderPrometheus() const;

 private:
  struct NodeStats {
    proto::Role role = proto::ROLE_UNSPECIFIED;
    std::string status = "alive";  // alive, left, dead
    proto::Heartbeat last;
    double samples_per_s = 0;
    TimePoint last_time;
    bool has_beat = false;
    uint64_t ended = 0;  // when it left or died, in ended_ order; 0 = alive
  };

  // Marks `name` left or dead and forgets the node that ended longest ago
  // beyond kMaxMetricEndedNodes. mu_ held.
  void EndNode(const std::string& name, const char* status);

  const std::string job_name_;
  mutable std::mutex mu_;
  std::map<std::string, NodeStats> nodes_;  // guarded by mu_
  // The names of the ended nodes by NodeStats::ended, oldest first.
  std::map<uint64_t, std::string> ended_;  // guarded by mu_
  uint64_t next_ended_ = 1;                // guarded by mu_
  // Per domain, the heartbeat record with the latest validation step (ties:
  // the newest): elastic members all send theirs, and one that lags must not
  // win.
  std::map<std::string, proto::DomainAuc> domain_auc_;  // guarded by mu_
  uint64_t dropped_domain_records_ = 0;                  // guarded by mu_
  int phase_index_ = -1;                    // guarded by mu_
  proto::Phase phase_ = proto::PHASE_UNSPECIFIED;  // guarded by mu_
  std::string state_ = "running";           // guarded by mu_
};

}  // namespace iak::scheduler

#endif  // IAK_SCHEDULER_JOB_METRICS_H_
