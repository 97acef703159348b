// MethodReport's summaries and its two renderings (markdown for
// docs/results.md, JSON for docs/results.json), apart from the training in
// method_comparison.cc.
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "compare/method_report.h"

#include "common/report_text.h"

#include <algorithm>

namespace iak::compare {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Mean of the defined (non-NaN) values; NaN when none is.
double MeanDefined(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v) {
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  }
  return n > 0 ? sum / n : kNaN;
}

std::string Bytes(int64_t b) {
  char buf[48];
  if (b >= (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", b / 1048576.0);
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld B", static_cast<long long>(b));
  }
  return buf;
}

}  // namespace

std::vector<MethodSummary> MethodReport::Summaries() const {
  std::vector<MethodSummary> out;
  std::unordered_map<std::string, double> frozen_auc;
  for (const MethodDomainResult& r : results) {
    if (r.method == "frozen") frozen_auc[r.domain] = r.test_auc;
  }
  std::vector<std::vector<double>> val, test, ctcvr;
  for (const MethodDomainResult& r : results) {
    if (out.empty() || out.back().method != r.method) {
      out.push_back(MethodSummary{});
      out.back().method = r.method;
      val.emplace_back();
      test.emplace_back();
      ctcvr.emplace_back();
    }
    MethodSummary& s = out.back();
    val.back().push_back(r.validation_auc);
    test.back().push_back(r.test_auc);
    ctcvr.back().push_back(r.test_ctcvr_auc);
    s.seconds_per_epoch += r.seconds_per_epoch;
    s.network_bytes += r.network_bytes();
    s.trainable_params += r.trainable_params;
    s.checkpoint_bytes += r.checkpoint_bytes;
    auto it = frozen_auc.find(r.domain);
    if (it != frozen_auc.end() && r.test_auc > it->second) ++s.domains_above_frozen;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].mean_validation_auc = MeanDefined(val[i]);
    out[i].mean_test_auc = MeanDefined(test[i]);
    out[i].mean_test_ctcvr_auc = MeanDefined(ctcvr[i]);
  }
  return out;
}

namespace {

std::string Auc4(double v) { return std::isnan(v) ? "n/a" : FormatFixed(v, 4); }
std::string Json6(double v) { return JsonNumber(v, 6); }

void AucTable(const MethodReport& report, const std::vector<std::string>& domains,
              const std::vector<MethodSummary>& summaries, bool ctcvr, std::ostringstream* out) {
  *out << "| method |";
  for (const std::string& d : domains) *out << " " << MarkdownCell(d) << " |";
  *out << " mean |" << (ctcvr ? "" : " mean val. AUC |") << "\n|---|";
  for (size_t i = 0; i < domains.size(); ++i) *out << "---|";
  *out << (ctcvr ? "---|\n" : "---|---|\n");
  for (const MethodSummary& s : summaries) {
    *out << "| " << s.method << " |";
    for (const std::string& d : domains) {
      for (const MethodDomainResult& r : report.results) {
        if (r.method == s.method && r.domain == d) {
          *out << " " << Auc4(ctcvr ? r.test_ctcvr_auc : r.test_auc) << " |";
        }
      }
    }
    if (ctcvr) {
      *out << " " << Auc4(s.mean_test_ctcvr_auc) << " |\n";
    } else {
      *out << " " << Auc4(s.mean_test_auc) << " | " << Auc4(s.mean_validation_auc) << " |\n";
    }
  }
}

}  // namespace

std::string MethodReport::ToMarkdown() const {
  std::ostringstream out;
  std::vector<std::string> domains;
  for (const MethodDomainResult& r : results) {
    if (std::find(domains.begin(), domains.end(), r.domain) == domains.end()) {
      domains.push_back(r.domain);
    }
  }
  const std::vector<MethodSummary> summaries = Summaries();
  out << "Test CTR-AUC per domain (each domain's model as validation chose it while "
         "training; the frozen base where validation never beat it):\n\n";
  AucTable(*this, domains, summaries, false, &out);
  std::ostringstream kept;
  for (const MethodDomainResult& r : results) {
    if (r.kept_base) kept << (kept.str().empty() ? "" : ", ") << r.method << " on " << r.domain;
  }
  if (!kept.str().empty()) {
    out << "\nKept base (validation never beat the frozen base, so the base is the result): "
        << kept.str() << ".\n";
  }
  if (has_ctcvr) {
    out << "\nTest CTCVR-AUC per domain (score pCTR x pCVR, positive = click and conversion; "
           "same epoch as above):\n\n";
    AucTable(*this, domains, summaries, true, &out);
  }
  out << "\nCost (summed over the " << domains.size()
      << " domains; one model per domain). Network bytes are COMPUTED, not measured: what a "
      << network_workers
      << "-worker data-parallel run would move per epoch for these batches (row pulls of "
         "each worker's unique keys, full FT's gradient-row pushes, ring all-reduce of the "
         "trained dense/adapter parameters every step):\n\n"
      << "| method | wall time / epoch (s) | network / epoch (computed, N=" << network_workers
      << ") | trainable params | checkpoint | domains above frozen |\n"
      << "|---|---|---|---|---|---|\n";
  for (const MethodSummary& s : summaries) {
    out << "| " << s.method << " | " << FormatFixed(s.seconds_per_epoch, 3) << " | "
        << Bytes(s.network_bytes) << " | " << s.trainable_params << " | "
        << Bytes(s.checkpoint_bytes) << " (" << s.checkpoint_bytes << " B) | "
        << s.domains_above_frozen << "/" << domains.size() << " |\n";
  }
  bool adapters = false;
  for (const MethodDomainResult& r : results) adapters |= r.method == "iak" || r.method == "plain";
  if (adapters) {
    out << "\nPer-domain batch size and learning rate of the adapters (domain plan, "
           "worker/domain_plan.h):\n\n"
        << "| method | domain | train samples | adapter | batch | lr |\n|---|---|---|---|---|---|\n";
    for (const MethodDomainResult& r : results) {
      if (r.method != "iak" && r.method != "plain") continue;
      char lr[32];
      std::snprintf(lr, sizeof(lr), "%.2e", r.lr);
      out << "| " << r.method << " | " << MarkdownCell(r.domain) << " | " << r.train_samples
          << " | " << r.mode << " | " << r.batch_size << " | " << lr << " |\n";
    }
    std::ostringstream fallbacks;
    for (const MethodDomainResult& r : results) {
      if (r.method == "iak" && r.mode != "own") {
        fallbacks << "- domain " << r.domain << ": " << r.plan_note << "\n";
      }
    }
    if (!fallbacks.str().empty()) {
      out << "\nCold-domain fallbacks (plain adapter and IAK alike):\n\n" << fallbacks.str();
    }
  }
  return out.str();
}

std::string MethodReport::ToJson() const {
  std::ostringstream out;
  out << "{\n  \"has_ctcvr\": " << (has_ctcvr ? "true" : "false")
      << ",\n  \"network_workers\": " << network_workers << ",\n  \"results\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const MethodDomainResult& r = results[i];
    out << "    {\"method\": " << JsonQuote(r.method) << ", \"domain\": " << JsonQuote(r.domain)
        << ", \"train_samples\": " << r.train_samples
        << ", \"validation_samples\": " << r.validation_samples
        << ", \"test_samples\": " << r.test_samples
        << ", \"validation_auc\": " << Json6(r.validation_auc)
        << ", \"test_auc\": " << Json6(r.test_auc)
        << ", \"test_ctcvr_auc\": " << Json6(r.test_ctcvr_auc)
        << ", \"best_step\": " << r.best_step
        << ", \"kept_base\": " << (r.kept_base ? "true" : "false")
        << ", \"stopped_early\": " << (r.stopped_early ? "true" : "false")
        << ", \"seconds_per_epoch\": " << FormatFixed(r.seconds_per_epoch, 4)
        << ", \"computed_pull_bytes_per_epoch\": " << r.pull_bytes
        << ", \"computed_push_bytes_per_epoch\": " << r.push_bytes
        << ", \"computed_allreduce_bytes_per_epoch\": " << r.allreduce_bytes
        << ", \"trainable_params\": " << r.trainable_params
        << ", \"checkpoint_bytes\": " << r.checkpoint_bytes << ", \"batch_size\": " << r.batch_size
        << ", \"lr\": " << r.lr << ", \"adapter\": " << JsonQuote(r.mode)
        << ", \"plan\": " << JsonQuote(r.plan_note) << "}" << (i + 1 < results.size() ? "," : "")
        << "\n";
  }
  out << "  ],\n  \"summary\": [\n";
  const std::vector<MethodSummary> summaries = Summaries();
  for (size_t i = 0; i < summaries.size(); ++i) {
    const MethodSummary& s = summaries[i];
    out << "    {\"method\": " << JsonQuote(s.method)
        << ", \"mean_test_auc\": " << Json6(s.mean_test_auc)
        << ", \"mean_test_ctcvr_auc\": " << Json6(s.mean_test_ctcvr_auc)
        << ", \"mean_validation_auc\": " << Json6(s.mean_validation_auc)
        << ", \"seconds_per_epoch\": " << FormatFixed(s.seconds_per_epoch, 4)
        << ", \"computed_network_bytes_per_epoch\": " << s.network_bytes
        << ", \"trainable_params\": " << s.trainable_params
        << ", \"checkpoint_bytes\": " << s.checkpoint_bytes
        << ", \"domains_above_frozen\": " << s.domains_above_frozen << "}"
        << (i + 1 < summaries.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  return out.str();
}

}  // namespace iak::compare
