#include "scheduler/job_metrics.h"

#include <cmath>
#include <sstream>

#include "scheduler/phase_name.h"

namespace iak::scheduler {
namespace {

const char* RoleName(proto::Role role) {
  switch (role) {
    case proto::ROLE_SERVER: return "server";
    case proto::ROLE_WORKER: return "worker";
    case proto::ROLE_SCHEDULER: return "scheduler";
    default: return "unknown";
  }
}

// A label value in the exposition format: backslash, double quote and line
// feed escaped.
std::string Label(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A sample value; NaN and infinities as the format spells them.
std::string Value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

void JobMetrics::NodeRegistered(const std::string& name, proto::Role role) {
  std::lock_guard<std::mutex> lock(mu_);
  NodeStats& node = nodes_[name];
  node.role = role;
  node.status = "alive";
}

void JobMetrics::NodeLeft(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  nodes_[name].status = "left";
}

void JobMetrics::NodeDead(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  nodes_[name].status = "dead";
}

void JobMetrics::Heartbeat(const std::string& name, const proto::Heartbeat& beat, TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  NodeStats& node = nodes_[name];
  if (node.has_beat) {
    const double seconds = std::chrono::duration<double>(now - node.last_time).count();
    if (seconds > 0 && beat.samples() >= node.last.samples()) {
      node.samples_per_s = (beat.samples() - node.last.samples()) / seconds;
    }
  }
  node.last = beat;
  node.last_time = now;
  node.has_beat = true;
  for (const proto::DomainAuc& auc : beat.domain_auc()) {
    auto [it, added] = domain_auc_.emplace(auc.domain(), auc);
    if (!added && auc.step() >= it->second.step()) it->second = auc;
  }
}

void JobMetrics::PhaseStarted(int phase_index, proto::Phase phase) {
  std::lock_guard<std::mutex> lock(mu_);
  phase_index_ = phase_index;
  phase_ = phase;
}

void JobMetrics::JobEnded(const std::string& state) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = state;
}

std::string JobMetrics::RenderPrometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  const std::string job = "job=" + Label(job_name_);
  out << "# HELP iak_job_state 1 for the job's current state.\n# TYPE iak_job_state gauge\n"
      << "iak_job_state{" << job << ",state=\"" << state_ << "\"} 1\n"
      << "# HELP iak_job_phase Index of the current phase in the plan (-1 before the first).\n"
      << "# TYPE iak_job_phase gauge\n"
      << "iak_job_phase{" << job << ",phase=\"" << PhaseName(phase_, /*unset=*/"none") << "\"} "
      << phase_index_ << "\n";
  std::map<std::string, int> membership;
  for (const auto& [name, node] : nodes_) {
    ++membership[std::string(RoleName(node.role)) + "\",status=\"" + node.status];
  }
  out << "# HELP iak_nodes Nodes of the job by role and status.\n# TYPE iak_nodes gauge\n";
  for (const auto& [key, count] : membership) {
    out << "iak_nodes{" << job << ",role=\"" << key << "\"} " << count << "\n";
  }
  double total_rate = 0;
  std::ostringstream step, loss, samples, rate, latency, hit, missing;
  for (const auto& [name, node] : nodes_) {
    if (node.role != proto::ROLE_WORKER || !node.has_beat) continue;
    const std::string labels = "{" + job + ",worker=" + Label(name) + "}";
    step << "iak_worker_step" << labels << " " << node.last.step() << "\n";
    loss << "iak_worker_loss" << labels << " " << Value(node.last.loss()) << "\n";
    samples << "iak_worker_samples_total" << labels << " " << node.last.samples() << "\n";
    rate << "iak_worker_samples_per_second" << labels << " " << node.samples_per_s << "\n";
    latency << "iak_worker_pull_latency_ms" << labels << " " << node.last.pull_latency_ms()
            << "\n";
    hit << "iak_worker_cache_hit_rate" << labels << " " << node.last.cache_hit_rate() << "\n";
    const uint64_t looked_up = node.last.keys_looked_up();
    missing << "iak_worker_missing_key_rate" << labels << " "
            << (looked_up == 0 ? 0.0
                               : static_cast<double>(node.last.keys_missing()) / looked_up)
            << "\n";
    total_rate += node.samples_per_s;
  }
  out << "# HELP iak_worker_step Steps done by each worker.\n# TYPE iak_worker_step gauge\n"
      << step.str()
      << "# HELP iak_worker_loss Mean training loss of the last window.\n"
      << "# TYPE iak_worker_loss gauge\n" << loss.str()
      << "# HELP iak_worker_samples_total Samples trained on.\n"
      << "# TYPE iak_worker_samples_total counter\n" << samples.str()
      << "# HELP iak_worker_samples_per_second Throughput between the last two heartbeats.\n"
      << "# TYPE iak_worker_samples_per_second gauge\n" << rate.str()
      << "# HELP iak_samples_per_second Throughput of all workers.\n"
      << "# TYPE iak_samples_per_second gauge\n"
      << "iak_samples_per_second{" << job << "} " << total_rate << "\n"
      << "# HELP iak_worker_pull_latency_ms Mean embedding pull time.\n"
      << "# TYPE iak_worker_pull_latency_ms gauge\n" << latency.str()
      << "# HELP iak_worker_cache_hit_rate Row cache hits per lookup.\n"
      << "# TYPE iak_worker_cache_hit_rate gauge\n" << hit.str()
      << "# HELP iak_worker_missing_key_rate Looked-up keys absent from the snapshot "
         "(max_missing_key_rate fails the job).\n"
      << "# TYPE iak_worker_missing_key_rate gauge\n" << missing.str();
  std::ostringstream auc, logloss, stopped, eval_step, best_step;
  for (const auto& [domain, d] : domain_auc_) {
    const std::string labels = "{" + job + ",domain=" + Label(domain);
    auc << "iak_domain_auc" << labels << ",model=\"base\"} " << Value(d.base_auc()) << "\n"
        << "iak_domain_auc" << labels << ",model=\"tuned\"} " << Value(d.iak_auc()) << "\n"
        << "iak_domain_auc" << labels << ",model=\"best\"} " << Value(d.best_auc()) << "\n";
    logloss << "iak_domain_logloss" << labels << ",model=\"base\"} " << Value(d.base_logloss())
            << "\n"
            << "iak_domain_logloss" << labels << ",model=\"tuned\"} " << Value(d.logloss())
            << "\n";
    stopped << "iak_domain_stopped" << labels << "} " << (d.stopped() ? 1 : 0) << "\n";
    eval_step << "iak_domain_validation_step" << labels << "} " << d.step() << "\n";
    best_step << "iak_domain_best_step" << labels << "} " << d.best_step() << "\n";
  }
  out << "# HELP iak_domain_auc Validation AUC per domain: the frozen base, the latest "
         "evaluation (tuned), the best so far.\n"
      << "# TYPE iak_domain_auc gauge\n" << auc.str()
      << "# HELP iak_domain_logloss Validation log loss per domain: the frozen base, the "
         "latest evaluation (tuned).\n"
      << "# TYPE iak_domain_logloss gauge\n" << logloss.str()
      << "# HELP iak_domain_stopped 1 once the domain stopped early (no validation gain).\n"
      << "# TYPE iak_domain_stopped gauge\n" << stopped.str()
      << "# HELP iak_domain_validation_step Global step of the domain's latest evaluation.\n"
      << "# TYPE iak_domain_validation_step gauge\n" << eval_step.str()
      << "# HELP iak_domain_best_step Global step of the domain's best evaluation (0 = the "
         "base).\n"
      << "# TYPE iak_domain_best_step gauge\n" << best_step.str();
  return out.str();
}

}  // namespace iak::scheduler
