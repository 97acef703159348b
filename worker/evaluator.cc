#include "worker/evaluator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <cstdio>
#include <map>
#include <sstream>

#include "embedding/model_directory.h"
#include "model/fine_tune_step.h"
#include "model/metrics.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/local_lookup.h"
#include "worker/method_evaluator.h"
#include "worker/dense_models.h"
#include "worker/model_factory.h"

namespace iak::worker {
namespace {

constexpr int kEvalBatch = 1024;

struct Scores {
  std::vector<float> base;
  std::vector<float> adapted;
  std::vector<float> labels;
  // pCTCVR and the conversion labels, only when CTCVR is evaluated.
  std::vector<float> base_ctcvr;
  std::vector<float> adapted_ctcvr;
  std::vector<float> conversion;
};

// `ctcvr`: the base has two tasks and the data conversion labels.
Scores ScoreSplit(const data::Dataset& dataset, const data::SampleIds& ids,
                  const model::BaseModel& base, const model::RowLookup& rows,
                  const model::IakModule* adapter, bool ctcvr) {
  const int dim = base.config().embedding_dim;
  const int input_dim = base.config().input_dim();
  model::FineTuneStep step;
  Scores scores;
  scores.base.resize(ids.size());
  scores.adapted.resize(ids.size());
  scores.labels.resize(ids.size());
  if (ctcvr) {
    scores.base_ctcvr.resize(ids.size());
    scores.adapted_ctcvr.resize(ids.size());
    scores.conversion.resize(ids.size());
  }
  std::vector<float> x;
  for (size_t begin = 0; begin < ids.size(); begin += kEvalBatch) {
    const int n = static_cast<int>(std::min<size_t>(kEvalBatch, ids.size() - begin));
    x.resize(static_cast<size_t>(n) * input_dim);
    model::PoolBatch(dataset, ids.data() + begin, n, dim, rows, x.data());
    step.Predict(base, nullptr, x.data(), n, scores.base.data() + begin,
                 ctcvr ? scores.base_ctcvr.data() + begin : nullptr);
    if (adapter != nullptr) {
      step.Predict(base, adapter, x.data(), n, scores.adapted.data() + begin,
                   ctcvr ? scores.adapted_ctcvr.data() + begin : nullptr);
    } else {  // the base model serves the domain
      std::copy(scores.base.begin() + begin, scores.base.begin() + begin + n,
                scores.adapted.begin() + begin);
      if (ctcvr) {
        std::copy(scores.base_ctcvr.begin() + begin, scores.base_ctcvr.begin() + begin + n,
                  scores.adapted_ctcvr.begin() + begin);
      }
    }
    for (int i = 0; i < n; ++i) {
      scores.labels[begin + i] = dataset.click[ids[begin + i]];
      if (ctcvr) scores.conversion[begin + i] = dataset.conversion[ids[begin + i]];
    }
  }
  return scores;
}

// A JSON number, or null for NaN (an undefined AUC).
std::string JsonNumber(double v, int digits) {
  if (std::isnan(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// A table cell of `width`: the AUC, or n/a when undefined.
std::string Cell(double v, int width, const char* format) {
  char buf[32];
  if (std::isnan(v)) {
    std::snprintf(buf, sizeof(buf), "%*s", width, "n/a");
  } else {
    std::snprintf(buf, sizeof(buf), format, width, v);
  }
  return buf;
}

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

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
  report.has_ctcvr = base.config().num_tasks == 2 && job.dataset.has_conversion();
  for (size_t i = 0; i < adapters.size(); ++i) {
    const int domain = job.finetune_domains[i];
    const data::DomainSplit& split = job.splits[domain];
    const data::SampleIds& ids = part == data::SplitPart::kTest ? split.test : split.validation;
    Scores scores = ScoreSplit(job.dataset, ids, base, rows, adapters[i], report.has_ctcvr);
    DomainResult result;
    result.domain = job.dataset.domain_names[domain];
    result.train_samples = static_cast<int64_t>(split.train.size());
    result.test_samples = static_cast<int64_t>(ids.size());
    double positives = 0;
    for (float label : scores.labels) positives += label;
    result.positive_rate = ids.empty() ? 0 : positives / ids.size();
    StatusOr<double> base_auc = model::RocAuc(scores.base.data(), scores.labels.data(), ids.size());
    StatusOr<double> iak_auc = model::RocAuc(scores.adapted.data(), scores.labels.data(), ids.size());
    if (!base_auc.ok()) return base_auc.status().WithContext("domain " + result.domain);
    if (!iak_auc.ok()) return iak_auc.status().WithContext("domain " + result.domain);
    result.base_auc = *base_auc;
    result.iak_auc = *iak_auc;
    result.base_logloss = model::LogLoss(scores.base.data(), scores.labels.data(), ids.size());
    result.iak_logloss = model::LogLoss(scores.adapted.data(), scores.labels.data(), ids.size());
    if (report.has_ctcvr) {
      IAK_RETURN_IF_ERROR(SetCtcvrAucs(scores.base_ctcvr, scores.adapted_ctcvr, scores.labels,
                                       scores.conversion, &result)
                              .WithContext("domain " + result.domain));
    }
    if (i < notes.size()) result.adapter_note = notes[i];
    report.mean_base_auc += result.base_auc / adapters.size();
    report.mean_iak_auc += result.iak_auc / adapters.size();
    report.domains.push_back(result);
  }
  report.ComputeCtcvrMeans();
  return report;
}

Status SetCtcvrAucs(const std::vector<float>& base_ctcvr, const std::vector<float>& tuned_ctcvr,
                    const std::vector<float>& click, const std::vector<float>& conversion,
                    DomainResult* result) {
  for (auto [scores, out] : {std::pair{&base_ctcvr, &result->base_ctcvr_auc},
                             std::pair{&tuned_ctcvr, &result->iak_ctcvr_auc}}) {
    StatusOr<double> auc = model::CtcvrAuc(*scores, click, conversion);
    if (auc.ok()) {
      *out = *auc;
    } else if (auc.status().code() == StatusCode::kFailedPrecondition) {
      // One class only (no conversion in this split): undefined, not an error.
      *out = std::numeric_limits<double>::quiet_NaN();
    } else {
      return auc.status();
    }
  }
  return Status::Ok();
}

void EvalReport::ComputeCtcvrMeans() {
  double base_sum = 0, tuned_sum = 0;
  int defined = 0;
  for (const DomainResult& d : domains) {
    if (std::isnan(d.base_ctcvr_auc) || std::isnan(d.iak_ctcvr_auc)) continue;
    base_sum += d.base_ctcvr_auc;
    tuned_sum += d.iak_ctcvr_auc;
    ++defined;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  mean_base_ctcvr_auc = has_ctcvr && defined > 0 ? base_sum / defined : nan;
  mean_iak_ctcvr_auc = has_ctcvr && defined > 0 ? tuned_sum / defined : nan;
}

StatusOr<EvalReport> EvaluateJob(const proto::JobSpec& spec, data::SplitPart part) {
  if (!IsAdapterMethod(spec.method())) return EvaluateMethodJob(spec, part);
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
  char line[384];
  const std::string label = method == "iak" || method.empty() ? "IAK" : method;
  // With CTCVR: three more columns after the log losses.
  const int width = has_ctcvr ? 128 : 92;
  std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9s %9s %7s | %9s %9s", "domain",
                "train", split.c_str(), "pos", "base AUC", (label + " AUC").c_str(), "gain",
                "base LL", (label + " LL").c_str());
  out << line;
  if (has_ctcvr) {
    std::snprintf(line, sizeof(line), " | %11s %11s %7s", "base CTCVR", (label + " CTCVR").c_str(),
                  "gain");
    out << line;
  }
  out << "\n" << std::string(width, '-') << "\n";
  for (const DomainResult& d : domains) {
    std::snprintf(line, sizeof(line), "%-12s %8lld %8lld %6.3f | %9.4f %9.4f %+7.4f | %9.4f %9.4f",
                  d.domain.c_str(), static_cast<long long>(d.train_samples),
                  static_cast<long long>(d.test_samples), d.positive_rate, d.base_auc, d.iak_auc,
                  d.iak_auc - d.base_auc, d.base_logloss, d.iak_logloss);
    out << line;
    if (has_ctcvr) {
      out << " | " << Cell(d.base_ctcvr_auc, 11, "%*.4f") << " "
          << Cell(d.iak_ctcvr_auc, 11, "%*.4f") << " "
          << Cell(d.iak_ctcvr_auc - d.base_ctcvr_auc, 7, "%+*.4f");
    }
    // The domain plan's fallback (a shared adapter or the base model).
    if (!d.adapter_note.empty()) out << "  " << d.adapter_note;
    out << "\n";
  }
  out << std::string(width, '-') << "\n";
  std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9.4f %9.4f %+7.4f |", "mean", "", "",
                "", mean_base_auc, mean_iak_auc, mean_iak_auc - mean_base_auc);
  out << line;
  if (has_ctcvr) {
    std::snprintf(line, sizeof(line), " %9s %9s | ", "", "");
    out << line << Cell(mean_base_ctcvr_auc, 11, "%*.4f") << " "
        << Cell(mean_iak_ctcvr_auc, 11, "%*.4f") << " "
        << Cell(mean_iak_ctcvr_auc - mean_base_ctcvr_auc, 7, "%+*.4f");
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
        << ", \"base_auc\": " << Fixed(d.base_auc, 6) << ", \"iak_auc\": " << Fixed(d.iak_auc, 6)
        << ", \"base_logloss\": " << Fixed(d.base_logloss, 6)
        << ", \"iak_logloss\": " << Fixed(d.iak_logloss, 6);
    if (has_ctcvr) {
      out << ", \"base_ctcvr_auc\": " << JsonNumber(d.base_ctcvr_auc, 6)
          << ", \"iak_ctcvr_auc\": " << JsonNumber(d.iak_ctcvr_auc, 6);
    }
    out << (d.adapter_note.empty() ? "" : ", \"adapter\": \"" + d.adapter_note + "\"") << "}"
        << (i + 1 < domains.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"mean_base_auc\": " << Fixed(mean_base_auc, 6)
      << ",\n  \"mean_iak_auc\": " << Fixed(mean_iak_auc, 6);
  if (has_ctcvr) {
    out << ",\n  \"mean_base_ctcvr_auc\": " << JsonNumber(mean_base_ctcvr_auc, 6)
        << ",\n  \"mean_iak_ctcvr_auc\": " << JsonNumber(mean_iak_ctcvr_auc, 6);
  }
  out << "\n}\n";
  return out.str();
}

}  // namespace iak::worker
