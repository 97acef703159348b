#include "worker/evaluator.h"

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "embedding/model_directory.h"
#include "model/fine_tune_step.h"
#include "model/metrics.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/local_lookup.h"
#include "worker/method_evaluator.h"
#include "worker/method_worker.h"

namespace iak::worker {
namespace {

constexpr int kEvalBatch = 1024;

struct Scores {
  std::vector<float> base;
  std::vector<float> adapted;
  std::vector<float> labels;
};

Scores ScoreSplit(const data::Dataset& dataset, const data::SampleIds& ids,
                  const model::BaseModel& base, const model::RowLookup& rows,
                  const model::IakModule* adapter) {
  const int dim = base.config().embedding_dim;
  const int input_dim = base.config().input_dim();
  model::FineTuneStep step;
  Scores scores;
  scores.base.resize(ids.size());
  scores.adapted.resize(ids.size());
  scores.labels.resize(ids.size());
  std::vector<float> x;
  for (size_t begin = 0; begin < ids.size(); begin += kEvalBatch) {
    const int n = static_cast<int>(std::min<size_t>(kEvalBatch, ids.size() - begin));
    x.resize(static_cast<size_t>(n) * input_dim);
    model::PoolBatch(dataset, ids.data() + begin, n, dim, rows, x.data());
    step.Predict(base, nullptr, x.data(), n, scores.base.data() + begin, nullptr);
    if (adapter != nullptr) {
      step.Predict(base, adapter, x.data(), n, scores.adapted.data() + begin, nullptr);
    } else {  // the base model serves the domain
      std::copy(scores.base.begin() + begin, scores.base.begin() + begin + n,
                scores.adapted.begin() + begin);
    }
    for (int i = 0; i < n; ++i) scores.labels[begin + i] = dataset.click[ids[begin + i]];
  }
  return scores;
}

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// An AUC for JSON: null where it is undefined (NaN is not JSON).
std::string AucJson(double v) { return std::isnan(v) ? "null" : Fixed(v, 6); }

}  // namespace

void SetDomainAuc(const float* base_scores, const float* tuned_scores, const float* labels,
                  size_t n, const std::string& split, DomainResult* result) {
  size_t positives = 0;
  for (size_t i = 0; i < n; ++i) positives += labels[i] > 0.5f ? 1 : 0;
  if (positives == 0 || positives == n) {
    result->auc_defined = false;
    result->base_auc = result->iak_auc = std::numeric_limits<double>::quiet_NaN();
    result->auc_note = n == 0 ? "n/a: the " + split + " split is empty"
                              : "n/a: all " + std::to_string(n) + " " + split + " labels are " +
                                    (positives == 0 ? "0" : "1");
    return;
  }
  // Both classes present: RocAuc cannot fail.
  result->base_auc = *model::RocAuc(base_scores, labels, n);
  result->iak_auc = *model::RocAuc(tuned_scores, labels, n);
}

void SetMeanAuc(EvalReport* report) {
  double base = 0, tuned = 0;
  int defined = 0;
  for (const DomainResult& d : report->domains) {
    if (!d.auc_defined) continue;
    base += d.base_auc;
    tuned += d.iak_auc;
    ++defined;
  }
  report->domains_without_auc = static_cast<int>(report->domains.size()) - defined;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  report->mean_base_auc = defined > 0 ? base / defined : nan;
  report->mean_iak_auc = defined > 0 ? tuned / defined : nan;
}

StatusOr<EvalReport> Evaluate(const JobData& job, const model::BaseModel& base,
                              const model::RowLookup& rows,
                              const std::vector<model::IakModule>& adapters,
                              data::SplitPart part) {
  std::vector<const model::IakModule*> pointers;
  for (const model::IakModule& a : adapters) pointers.push_back(&a);
  return EvaluatePlanned(job, base, rows, pointers, {}, part);
}

StatusOr<EvalReport> EvaluatePlanned(const JobData& job, const model::BaseModel& base,
                                     const model::RowLookup& rows,
                                     const std::vector<const model::IakModule*>& adapters,
                                     const std::vector<std::string>& notes,
                                     data::SplitPart part) {
  if (adapters.size() != job.finetune_domains.size()) {
    return FailedPreconditionError("have " + std::to_string(adapters.size()) +
                                   " adapters for " +
                                   std::to_string(job.finetune_domains.size()) + " domains");
  }
  EvalReport report;
  report.split = part == data::SplitPart::kTest ? "test" : "validation";
  for (size_t i = 0; i < adapters.size(); ++i) {
    const int domain = job.finetune_domains[i];
    const data::DomainSplit& split = job.splits[domain];
    const data::SampleIds& ids = part == data::SplitPart::kTest ? split.test : split.validation;
    Scores scores = ScoreSplit(job.dataset, ids, base, rows, adapters[i]);
    DomainResult result;
    result.domain = job.dataset.domain_names[domain];
    result.train_samples = static_cast<int64_t>(split.train.size());
    result.test_samples = static_cast<int64_t>(ids.size());
    double positives = 0;
    for (float label : scores.labels) positives += label;
    result.positive_rate = ids.empty() ? 0 : positives / ids.size();
    SetDomainAuc(scores.base.data(), scores.adapted.data(), scores.labels.data(), ids.size(),
                 report.split, &result);
    result.base_logloss = model::LogLoss(scores.base.data(), scores.labels.data(), ids.size());
    result.iak_logloss = model::LogLoss(scores.adapted.data(), scores.labels.data(), ids.size());
    if (i < notes.size()) result.adapter_note = notes[i];
    report.domains.push_back(result);
  }
  SetMeanAuc(&report);
  return report;
}

StatusOr<EvalReport> EvaluateJob(const proto::JobSpec& spec, data::SplitPart part) {
  if (IsMethodWorkerMethod(spec.method())) return EvaluateMethodJob(spec, part);
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(spec.data()));
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory model_dir,
                       embedding::LoadModelDirectory(spec.model_dir()));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base, model::BaseModel::Deserialize(model_dir.dense_blob));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<embedding::LocalEmbeddingTable> table,
                       embedding::LocalEmbeddingTable::Open(model_dir));
  // Each domain's adapter: its own, the cold domains' shared one, or none
  // (the base model), as the job's plan file says (adapter_plan_file.h).
  const std::string dir = spec.output_dir() + "/adapters";
  std::vector<std::string> names;
  for (int domain : job.finetune_domains) names.push_back(job.dataset.domain_names[domain]);
  IAK_ASSIGN_OR_RETURN(std::vector<AdapterPlanRow> served, ResolveDomainAdapters(dir, names));
  std::map<std::string, model::IakModule> loaded;  // by adapter name, each once
  for (const AdapterPlanRow& r : served) {
    if (r.adapter.empty() || loaded.count(r.adapter) > 0) continue;
    IAK_ASSIGN_OR_RETURN(model::IakModule adapter, LoadAdapter(dir, r.adapter));
    loaded.emplace(r.adapter, std::move(adapter));
  }
  std::vector<const model::IakModule*> adapters;
  std::vector<std::string> notes;
  for (const AdapterPlanRow& r : served) {
    adapters.push_back(r.adapter.empty() ? nullptr : &loaded.at(r.adapter));
    notes.push_back(r.Note());
  }
  LocalLookup rows(table.get());
  StatusOr<EvalReport> report = EvaluatePlanned(job, base, rows, adapters, notes, part);
  if (report.ok() && !spec.method().empty()) report->method = spec.method();  // "plain"
  return report;
}

std::string EvalReport::ToTable() const {
  std::ostringstream out;
  char line[256];
  const std::string label = method == "iak" || method.empty() ? "IAK" : method;
  std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9s %9s %7s | %9s %9s\n", "domain",
                "train", split.c_str(), "pos", "base AUC", (label + " AUC").c_str(), "gain",
                "base LL", (label + " LL").c_str());
  out << line << std::string(92, '-') << "\n";
  for (const DomainResult& d : domains) {
    if (d.auc_defined) {
      std::snprintf(line, sizeof(line),
                    "%-12s %8lld %8lld %6.3f | %9.4f %9.4f %+7.4f | %9.4f %9.4f",
                    d.domain.c_str(), static_cast<long long>(d.train_samples),
                    static_cast<long long>(d.test_samples), d.positive_rate, d.base_auc,
                    d.iak_auc, d.iak_auc - d.base_auc, d.base_logloss, d.iak_logloss);
    } else {
      std::snprintf(line, sizeof(line), "%-12s %8lld %8lld %6.3f | %9s %9s %7s | %9.4f %9.4f",
                    d.domain.c_str(), static_cast<long long>(d.train_samples),
                    static_cast<long long>(d.test_samples), d.positive_rate, "n/a", "n/a", "",
                    d.base_logloss, d.iak_logloss);
    }
    out << line;
    // The domain plan's fallback (a shared adapter or the base model).
    if (!d.adapter_note.empty()) out << "  " << d.adapter_note;
    if (!d.auc_defined) out << "  (AUC " << d.auc_note << ")";
    out << "\n";
  }
  out << std::string(92, '-') << "\n";
  if (domains_without_auc < static_cast<int>(domains.size())) {
    std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9.4f %9.4f %+7.4f |", "mean", "", "",
                  "", mean_base_auc, mean_iak_auc, mean_iak_auc - mean_base_auc);
  } else {
    std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9s %9s %7s |", "mean", "", "", "",
                  "n/a", "n/a", "");
  }
  out << line;
  if (domains_without_auc > 0) {
    out << "  (over " << domains.size() - domains_without_auc << " of " << domains.size()
        << " domains; AUC is n/a where a split holds one class)";
  }
  out << "\n";
  return out.str();
}

std::string EvalReport::ToJson() const {
  std::ostringstream out;
  out << "{\n  \"split\": \"" << split << "\",\n  \"domains\": [\n";
  for (size_t i = 0; i < domains.size(); ++i) {
    const DomainResult& d = domains[i];
    out << "    {\"domain\": \"" << d.domain << "\", \"train_samples\": " << d.train_samples
        << ", \"eval_samples\": " << d.test_samples
        << ", \"positive_rate\": " << Fixed(d.positive_rate, 6)
        << ", \"base_auc\": " << AucJson(d.base_auc) << ", \"iak_auc\": " << AucJson(d.iak_auc)
        << (d.auc_defined ? "" : ", \"auc_note\": \"" + d.auc_note + "\"")
        << ", \"base_logloss\": " << Fixed(d.base_logloss, 6)
        << ", \"iak_logloss\": " << Fixed(d.iak_logloss, 6)
        << (d.adapter_note.empty() ? "" : ", \"adapter\": \"" + d.adapter_note + "\"") << "}"
        << (i + 1 < domains.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"mean_base_auc\": " << AucJson(mean_base_auc)
      << ",\n  \"mean_iak_auc\": " << AucJson(mean_iak_auc)
      << ",\n  \"domains_without_auc\": " << domains_without_auc << "\n}\n";
  return out.str();
}

}  // namespace iak::worker
