#include "worker/evaluator.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>

#include "common/report_text.h"
#include "model/metrics.h"
#include "worker/domain_predictor.h"
#include "worker/model_factory.h"

namespace iak::worker {
namespace {

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

StatusOr<EvalReport> EvaluateModels(const JobData& job, const JobModels& models,
                                    const std::string& method, data::SplitPart part) {
  const data::Dataset& dataset = job.dataset;
  IAK_ASSIGN_OR_RETURN(DomainPredictor base, models.MakePredictor(/*use_tuned=*/false));
  IAK_ASSIGN_OR_RETURN(DomainPredictor tuned, models.MakePredictor(/*use_tuned=*/true));
  EvalReport report;
  report.method = method.empty() ? "iak" : method;
  report.split = part == data::SplitPart::kTest ? "test" : "validation";
  report.has_ctcvr = models.base->config().num_tasks == 2 && dataset.has_conversion();
  const std::vector<const model::RowLookup*> domain_rows = models.DomainRows();
  const std::vector<const KeyBiases*> domain_biases = models.DomainBiases();
  for (int domain : job.finetune_domains) {
    const data::DomainSplit& split = job.splits[domain];
    const data::SampleIds& ids = part == data::SplitPart::kTest ? split.test : split.validation;
    DomainResult result;
    result.domain = dataset.domain_names[domain];
    result.train_samples = static_cast<int64_t>(split.train.size());
    result.test_samples = static_cast<int64_t>(ids.size());
    const size_t n = ids.size();
    std::vector<float> labels(n), conversion(report.has_ctcvr ? n : 0);
    double positives = 0;
    for (size_t i = 0; i < n; ++i) {
      labels[i] = dataset.click[ids[i]];
      positives += labels[i];
      if (report.has_ctcvr) conversion[i] = dataset.conversion[ids[i]];
    }
    result.positive_rate = ids.empty() ? 0 : positives / n;
    std::vector<float> base_ctr(n), tuned_ctr(n);
    std::vector<float> base_ctcvr(report.has_ctcvr ? n : 0), tuned_ctcvr(base_ctcvr.size());
    IAK_RETURN_IF_ERROR(PredictSamples(dataset, ids, *models.rows, PredictOptions(), &base,
                                       base_ctr.data(),
                                       report.has_ctcvr ? base_ctcvr.data() : nullptr));
    IAK_RETURN_IF_ERROR(PredictSamples(dataset, ids, *models.rows, PredictOptions(), &tuned,
                                       tuned_ctr.data(),
                                       report.has_ctcvr ? tuned_ctcvr.data() : nullptr,
                                       domain_rows, domain_biases)
                            .WithContext("domain " + result.domain));
    SetDomainAuc(base_ctr.data(), tuned_ctr.data(), labels.data(), n, report.split, &result);
    result.base_logloss = model::LogLoss(base_ctr.data(), labels.data(), n);
    result.iak_logloss = model::LogLoss(tuned_ctr.data(), labels.data(), n);
    if (report.has_ctcvr) {
      IAK_RETURN_IF_ERROR(SetCtcvrAucs(base_ctcvr, tuned_ctcvr, labels, conversion, &result)
                              .WithContext("domain " + result.domain));
    }
    const size_t d = static_cast<size_t>(domain);
    if (d < models.notes.size()) result.adapter_note = models.notes[d];
    report.domains.push_back(result);
  }
  SetMeanAuc(&report);
  report.ComputeCtcvrMeans();
  return report;
}

StatusOr<EvalReport> EvaluateJob(const proto::JobSpec& spec, data::SplitPart part) {
  const std::string method = spec.method().empty() ? "iak" : spec.method();
  IAK_RETURN_IF_ERROR(CheckMethod(method).WithContext("cannot evaluate"));
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(spec.data()));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<JobModels> models,
                       LoadJobModels(spec, job.dataset.domain_names));
  if (models->base->config().num_fields != job.dataset.num_fields()) {
    return FailedPreconditionError(
        "the model in " + spec.model_dir() + " has " +
        std::to_string(models->base->config().num_fields) + " fields but the data has " +
        std::to_string(job.dataset.num_fields()) + "; pre-train a model for this data");
  }
  return EvaluateModels(job, *models, method, part);
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
