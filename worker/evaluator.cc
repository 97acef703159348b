#include "worker/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

#include "common/report_text.h"
#include "embedding/model_directory.h"
#include "model/fine_tune_step.h"
#include "model/metrics.h"
#include "model/whole_model_adapter_step.h"
#include "worker/adapter_model.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/local_lookup.h"
#include "worker/new_key_rows.h"
#include "worker/training_setup.h"
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
// `tuned_rows` (null = rows) are what the adapter's scores pool from (a
// unit's new-key rows over the frozen table); the base always pools `rows`.
Scores ScoreSplit(const data::Dataset& dataset, const data::SampleIds& ids,
                  const model::BaseModel& base, const model::RowLookup& rows,
                  const model::RowLookup* tuned_rows, const model::IakModule* adapter,
                  bool adapter_on_x, const KeyBiases* biases, bool ctcvr) {
  const int dim = base.config().embedding_dim;
  const int input_dim = base.config().input_dim();
  model::FineTuneStep step;
  model::WholeModelAdapterStep x_step;  // adapters on x, as the trainer scores them
  Scores scores;
  scores.base.resize(ids.size());
  scores.adapted.resize(ids.size());
  scores.labels.resize(ids.size());
  if (ctcvr) {
    scores.base_ctcvr.resize(ids.size());
    scores.adapted_ctcvr.resize(ids.size());
    scores.conversion.resize(ids.size());
  }
  std::vector<float> x, tuned_x, offsets;
  for (size_t begin = 0; begin < ids.size(); begin += kEvalBatch) {
    const int n = static_cast<int>(std::min<size_t>(kEvalBatch, ids.size() - begin));
    x.resize(static_cast<size_t>(n) * input_dim);
    model::PoolBatch(dataset, ids.data() + begin, n, dim, rows, x.data());
    step.Predict(base, nullptr, x.data(), n, scores.base.data() + begin,
                 ctcvr ? scores.base_ctcvr.data() + begin : nullptr);
    const float* adapter_x = x.data();
    if (tuned_rows != nullptr) {
      tuned_x.resize(x.size());
      model::PoolBatch(dataset, ids.data() + begin, n, dim, *tuned_rows, tuned_x.data());
      adapter_x = tuned_x.data();
    }
    if (adapter != nullptr && (adapter_on_x || biases != nullptr)) {
      const float* offset = nullptr;
      if (biases != nullptr) {
        offsets.resize(static_cast<size_t>(n));
        biases->Offsets(dataset, ids.data() + begin, n, offsets.data());
        offset = offsets.data();
      }
      x_step.Predict(base, *adapter, adapter_on_x, adapter_x, n, scores.adapted.data() + begin,
                     ctcvr ? scores.adapted_ctcvr.data() + begin : nullptr, offset);
    } else if (adapter != nullptr) {
      step.Predict(base, adapter, adapter_x, n, scores.adapted.data() + begin,
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

// An AUC for JSON: null where it is undefined (NaN is not JSON).
std::string AucJson(double v) { return JsonNumber(v, 6); }

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
                                     data::SplitPart part,
                                     const std::vector<const model::RowLookup*>& tuned_rows,
                                     bool adapters_on_x,
                                     const std::vector<const KeyBiases*>& tuned_biases) {
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
    const model::RowLookup* tuned = i < tuned_rows.size() ? tuned_rows[i] : nullptr;
    const KeyBiases* biases = i < tuned_biases.size() ? tuned_biases[i] : nullptr;
    Scores scores = ScoreSplit(job.dataset, ids, base, rows, tuned, adapters[i], adapters_on_x,
                               biases, report.has_ctcvr);
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
    if (report.has_ctcvr) {
      IAK_RETURN_IF_ERROR(SetCtcvrAucs(scores.base_ctcvr, scores.adapted_ctcvr, scores.labels,
                                       scores.conversion, &result)
                              .WithContext("domain " + result.domain));
    }
    if (i < notes.size()) result.adapter_note = notes[i];
    report.domains.push_back(result);
  }
  SetMeanAuc(&report);
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
  IAK_ASSIGN_OR_RETURN(const bool adapters_on_x, InferenceAdaptersOnX(spec, "iak eval"));
  IAK_ASSIGN_OR_RETURN(LocalInputs local, LoadLocalInputs(spec.data(), spec.model_dir()));
  const JobData& job = local.inputs.job;
  const model::BaseModel& base = *local.inputs.base;
  const std::unique_ptr<embedding::LocalEmbeddingTable>& table = local.table;
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
  LocalLookup rows(table.get());
  // New-key rows (JobSpec.iak.new_key_rows) next to an adapter, each once.
  std::map<std::string, std::unique_ptr<NewKeyRows>> new_rows;
  std::map<std::string, std::unique_ptr<NewKeyRowLookup>> new_row_lookups;
  // Key biases (JobSpec.iak.key_biases) next to an adapter, each once.
  std::map<std::string, std::unique_ptr<KeyBiases>> biases;
  for (const auto& [name, adapter] : loaded) {
    IAK_ASSIGN_OR_RETURN(biases[name], LoadKeyBiasesIfAny(dir, name));
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<NewKeyRows> found, LoadNewKeyRowsIfAny(dir, name));
    if (found == nullptr) continue;
    new_rows[name] = std::move(found);
    new_row_lookups[name] = std::make_unique<NewKeyRowLookup>(new_rows[name].get(), &rows);
  }
  std::vector<const model::IakModule*> adapters;
  std::vector<const model::RowLookup*> tuned_rows;
  std::vector<const KeyBiases*> tuned_biases;
  std::vector<std::string> notes;
  for (const AdapterPlanRow& r : served) {
    adapters.push_back(r.adapter.empty() ? nullptr : &loaded.at(r.adapter));
    tuned_biases.push_back(r.adapter.empty() ? nullptr : biases.at(r.adapter).get());
    auto lookup = new_row_lookups.find(r.adapter);
    tuned_rows.push_back(lookup == new_row_lookups.end() ? nullptr : lookup->second.get());
    notes.push_back(r.Note());
  }
  StatusOr<EvalReport> report =
      EvaluatePlanned(job, base, rows, adapters, notes, part, tuned_rows, adapters_on_x,
                      tuned_biases);
  if (report.ok() && !spec.method().empty()) report->method = spec.method();  // "plain"
  return report;
}

std::string MethodLabel(const std::string& method) {
  return method == "iak" || method.empty() ? "IAK" : method;
}

std::string EvalReport::ToTable() const {
  std::ostringstream out;
  char line[384];
  const std::string label = MethodLabel(method);
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
    if (has_ctcvr) {
      out << " | " << Cell(d.base_ctcvr_auc, 11, "%*.4f") << " "
          << Cell(d.iak_ctcvr_auc, 11, "%*.4f") << " "
          << Cell(d.iak_ctcvr_auc - d.base_ctcvr_auc, 7, "%+*.4f");
    }
    // The domain plan's fallback (a shared adapter or the base model).
    if (!d.adapter_note.empty()) out << "  " << d.adapter_note;
    if (!d.auc_defined) out << "  (AUC " << d.auc_note << ")";
    out << "\n";
  }
  out << std::string(width, '-') << "\n";
  if (domains_without_auc < static_cast<int>(domains.size())) {
    std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9.4f %9.4f %+7.4f |", "mean", "", "",
                  "", mean_base_auc, mean_iak_auc, mean_iak_auc - mean_base_auc);
  } else {
    std::snprintf(line, sizeof(line), "%-12s %8s %8s %6s | %9s %9s %7s |", "mean", "", "", "",
                  "n/a", "n/a", "");
  }
  out << line;
  if (has_ctcvr) {
    std::snprintf(line, sizeof(line), " %9s %9s | ", "", "");
    out << line << Cell(mean_base_ctcvr_auc, 11, "%*.4f") << " "
        << Cell(mean_iak_ctcvr_auc, 11, "%*.4f") << " "
        << Cell(mean_iak_ctcvr_auc - mean_base_ctcvr_auc, 7, "%+*.4f");
  }
  if (domains_without_auc > 0) {
    out << "  (over " << domains.size() - domains_without_auc << " of " << domains.size()
        << " domains; AUC is n/a where a split holds one class)";
  }
  out << "\n";
  return out.str();
}

std::string EvalReport::ToJson() const {
  std::ostringstream out;
  out << "{\n  \"split\": " << JsonQuote(split) << ",\n  \"method\": "
      << JsonQuote(method.empty() ? "iak" : method) << ",\n  \"domains\": [\n";
  for (size_t i = 0; i < domains.size(); ++i) {
    const DomainResult& d = domains[i];
    out << "    {\"domain\": " << JsonQuote(d.domain) << ", \"train_samples\": " << d.train_samples
        << ", \"eval_samples\": " << d.test_samples
        << ", \"positive_rate\": " << FormatFixed(d.positive_rate, 6)
        << ", \"base_auc\": " << AucJson(d.base_auc) << ", \"iak_auc\": " << AucJson(d.iak_auc)
        << (d.auc_defined ? "" : ", \"auc_note\": " + JsonQuote(d.auc_note))
        << ", \"base_logloss\": " << FormatFixed(d.base_logloss, 6)
        << ", \"iak_logloss\": " << FormatFixed(d.iak_logloss, 6);
    if (has_ctcvr) {
      out << ", \"base_ctcvr_auc\": " << JsonNumber(d.base_ctcvr_auc, 6)
          << ", \"iak_ctcvr_auc\": " << JsonNumber(d.iak_ctcvr_auc, 6);
    }
    out << (d.adapter_note.empty() ? "" : ", \"adapter\": " + JsonQuote(d.adapter_note)) << "}"
        << (i + 1 < domains.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"mean_base_auc\": " << AucJson(mean_base_auc)
      << ",\n  \"mean_iak_auc\": " << AucJson(mean_iak_auc)
      << ",\n  \"domains_without_auc\": " << domains_without_auc;
  if (has_ctcvr) {
    out << ",\n  \"mean_base_ctcvr_auc\": " << JsonNumber(mean_base_ctcvr_auc, 6)
        << ",\n  \"mean_iak_ctcvr_auc\": " << JsonNumber(mean_iak_ctcvr_auc, 6);
  }
  out << "\n}\n";
  return out.str();
}

}  // namespace iak::worker
