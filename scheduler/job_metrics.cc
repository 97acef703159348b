#include "scheduler/job_metrics.h"

#include <cmath>
#include <sstream>

#include <glog/logging.h>

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

// One metric family: its HELP and TYPE lines, then its samples (rendered,
// one per line).
void Family(std::ostream& out, const char* name, const char* type, const char* help,
            const std::string& samples) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
      << samples;
}

}  // namespace

void JobMetrics::NodeRegistered(const std::string& name, proto::Role role) {
  std::lock_guard<std::mutex> lock(mu_);
  NodeStats& node = nodes_[name];
  node.role = role;
  node.status = "alive";
  if (node.ended != 0) ended_.erase(node.ended);  // registered again under its name
  node.ended = 0;
}

void JobMetrics::NodeLeft(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  EndNode(name, "left");
}

void JobMetrics::NodeDead(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  EndNode(name, "dead");
}

void JobMetrics::EndNode(const std::string& name, const char* status) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  NodeStats& node = it->second;
  node.status = status;
  if (node.ended != 0) ended_.erase(node.ended);
  node.ended = next_ended_++;
  ended_.emplace(node.ended, name);
  if (ended_.size() > kMaxMetricEndedNodes) {
    nodes_.erase(ended_.begin()->second);
    ended_.erase(ended_.begin());
  }
}

void JobMetrics::Heartbeat(const std::string& name, const proto::Heartbeat& beat, TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;  // a node forgotten (or never registered)
  NodeStats& node = it->second;
  if (node.has_beat) {
    const double seconds = std::chrono::duration<double>(now - node.last_time).count();
    if (seconds > 0 && beat.samples() >= node.last.samples()) {
      node.samples_per_s = (beat.samples() - node.last.samples()) / seconds;
    }
  }
  node.last = beat;
  node.last.clear_domain_auc();  // kept below, bounded; the rest is a few numbers
  node.last_time = now;
  node.has_beat = true;
  for (const proto::DomainAuc& auc : beat.domain_auc()) {
    auto it = domain_auc_.find(auc.domain());
    if (it != domain_auc_.end()) {
      if (auc.step() >= it->second.step()) it->second = auc;
    } else if (domain_auc_.size() < kMaxMetricDomains &&
               auc.domain().size() <= kMaxMetricDomainName) {
      domain_auc_.emplace(auc.domain(), auc);
    } else {
      if (dropped_domain_records_ == 0) {
        LOG(WARNING) << "/metrics: dropping domain records of '" << name << "' beyond "
                     << kMaxMetricDomains << " domains or with names over "
                     << kMaxMetricDomainName << " bytes (counted in iak_domain_records_dropped)";
      }
      ++dropped_domain_records_;
    }
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
  Family(out, "iak_job_state", "gauge", "1 for the job's current state.",
         "iak_job_state{" + job + ",state=\"" + state_ + "\"} 1\n");
  Family(out, "iak_job_phase", "gauge",
         "Index of the current phase in the plan (-1 before the first).",
         "iak_job_phase{" + job + ",phase=\"" + PhaseName(phase_, /*unset=*/"none") + "\"} " +
             std::to_string(phase_index_) + "\n");
  std::map<std::string, int> membership;
  for (const auto& [name, node] : nodes_) {
    ++membership[std::string(RoleName(node.role)) + "\",status=\"" + node.status];
  }
  std::ostringstream nodes;
  for (const auto& [key, count] : membership) {
    nodes << "iak_nodes{" << job << ",role=\"" << key << "\"} " << count << "\n";
  }
  Family(out, "iak_nodes", "gauge", "Nodes of the job by role and status.", nodes.str());
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
  std::ostringstream all_rate;
  all_rate << "iak_samples_per_second{" << job << "} " << total_rate << "\n";
  Family(out, "iak_worker_step", "gauge", "Steps done by each worker.", step.str());
  Family(out, "iak_worker_loss", "gauge", "Mean training loss of the last window.", loss.str());
  Family(out, "iak_worker_samples_total", "counter", "Samples trained on.", samples.str());
  Family(out, "iak_worker_samples_per_second", "gauge",
         "Throughput between the last two heartbeats.", rate.str());
  Family(out, "iak_samples_per_second", "gauge", "Throughput of all workers.", all_rate.str());
  Family(out, "iak_worker_pull_latency_ms", "gauge", "Mean embedding pull time.", latency.str());
  Family(out, "iak_worker_cache_hit_rate", "gauge", "Row cache hits per lookup.", hit.str());
  Family(out, "iak_worker_missing_key_rate", "gauge",
         "Keys read (pulled, or from rows kept once pulled) absent from the snapshot "
         "(max_missing_key_rate fails the job).",
         missing.str());
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
  Family(out, "iak_domain_auc", "gauge",
         "Validation AUC per domain: the frozen base, the latest evaluation (tuned), the best "
         "so far.",
         auc.str());
  Family(out, "iak_domain_logloss", "gauge",
         "Validation log loss per domain: the frozen base, the latest evaluation (tuned).",
         logloss.str());
  Family(out, "iak_domain_stopped", "gauge",
         "1 once the domain stopped early (no validation gain).", stopped.str());
  Family(out, "iak_domain_validation_step", "gauge",
         "Global step of the domain's latest evaluation.", eval_step.str());
  Family(out, "iak_domain_best_step", "gauge",
         "Global step of the domain's best evaluation (0 = the base).", best_step.str());
  Family(out, "iak_domain_records_dropped", "counter",
         "Domain records not kept: beyond the most domains kept or with too long a name.",
         "iak_domain_records_dropped{" + job + "} " + std::to_string(dropped_domain_records_) +
             "\n");
  return out.str();
}

}  // namespace iak::scheduler
