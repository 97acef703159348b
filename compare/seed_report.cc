#include "compare/seed_report.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/report_text.h"

namespace iak::compare {
namespace {

// Interval over the defined (non-NaN) values; n = 0 when none is.
Interval DefinedInterval(const std::vector<double>& values) {
  std::vector<double> defined;
  for (double v : values) {
    if (!std::isnan(v)) defined.push_back(v);
  }
  StatusOr<Interval> i = MeanWithTInterval(defined);
  return i.ok() ? *i : Interval{};
}

std::string Cell(const Interval& i) {
  if (i.n == 0) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4f [%.4f, %.4f]", i.mean, i.low, i.high);
  return buf;
}

// Rounding noise of an exact zero (a kept base) prints as 0, not -0.0000.
double Clean(double v) { return std::abs(v) < 5e-9 ? 0.0 : v; }

std::string GainCell(const DomainConfidence& c) {
  if (!c.has_gain) return "-";
  char buf[80];
  const char* mark = c.gain.below() ? " **below**" : (c.gain.above() ? " above" : "");
  std::snprintf(buf, sizeof(buf), "%+.4f [%+.4f, %+.4f]%s", Clean(c.gain.gain),
                Clean(c.gain.low), Clean(c.gain.high), mark);
  return buf;
}

std::string JsonInterval(const Interval& i) {
  if (i.n == 0) return "null";
  char buf[128];
  std::snprintf(buf, sizeof(buf), "{\"mean\": %.6f, \"low\": %.6f, \"high\": %.6f, \"n\": %d}",
                i.mean, i.low, i.high, i.n);
  return buf;
}

// Per run, the per-method mean over domains of `metric` (NaN skipped).
double RunMean(const MethodReport& run, const std::string& method, bool ctcvr) {
  double sum = 0;
  int n = 0;
  for (const MethodDomainResult& r : run.results) {
    const double v = ctcvr ? r.test_ctcvr_auc : r.test_auc;
    if (r.method == method && !std::isnan(v)) {
      sum += v;
      ++n;
    }
  }
  return n > 0 ? sum / n : std::nan("");
}

}  // namespace

const DomainConfidence* SeedReport::Cell(const std::string& method,
                                         const std::string& domain) const {
  for (const DomainConfidence& c : cells) {
    if (c.method == method && c.domain == domain) return &c;
  }
  return nullptr;
}

StatusOr<SeedReport> SummarizeSeeds(const std::vector<MethodReport>& runs,
                                    const std::vector<uint64_t>& seeds,
                                    const ConfidenceOptions& options) {
  if (runs.empty() || runs.size() != seeds.size()) {
    return InvalidArgumentError("SummarizeSeeds: " + std::to_string(runs.size()) + " runs for " +
                                std::to_string(seeds.size()) + " seeds");
  }
  const std::vector<MethodDomainResult>& first = runs.front().results;
  for (size_t s = 1; s < runs.size(); ++s) {
    const std::vector<MethodDomainResult>& other = runs[s].results;
    for (size_t i = 0; i < std::max(first.size(), other.size()); ++i) {
      if (i >= first.size() || i >= other.size() || first[i].method != other[i].method ||
          first[i].domain != other[i].domain) {
        return InvalidArgumentError("SummarizeSeeds: the run of seed " +
                                    std::to_string(seeds[s]) + " differs from the first at "
                                    "result " + std::to_string(i));
      }
    }
  }
  SeedReport out;
  out.seeds = seeds;
  out.resamples = options.resamples;
  out.has_ctcvr = runs.front().has_ctcvr;
  for (const MethodDomainResult& r : first) {
    if (out.methods.empty() || out.methods.back().method != r.method) {
      out.methods.push_back(MethodConfidence{});
      out.methods.back().method = r.method;
    }
    bool known = false;
    for (const std::string& d : out.domains) known |= d == r.domain;
    if (!known) out.domains.push_back(r.domain);
  }
  for (size_t i = 0; i < first.size(); ++i) {
    DomainConfidence c;
    c.method = first[i].method;
    c.domain = first[i].domain;
    c.test_samples = first[i].test_samples;
    std::vector<double> auc, ctcvr;
    std::vector<std::vector<float>> scores;
    for (const MethodReport& run : runs) {
      auc.push_back(run.results[i].test_auc);
      ctcvr.push_back(run.results[i].test_ctcvr_auc);
      scores.push_back(run.results[i].test_scores);
    }
    c.test_auc = DefinedInterval(auc);
    c.test_ctcvr = DefinedInterval(ctcvr);
    const MethodDomainResult* base = nullptr;
    size_t domain_index = 0;
    while (out.domains[domain_index] != c.domain) ++domain_index;
    for (const MethodDomainResult& r : first) {
      if (r.method == options.base_method && r.domain == c.domain) base = &r;
    }
    if (base != nullptr && c.method != options.base_method) {
      StatusOr<PairedGain> gain =
          PairedBootstrapAucGain(scores, base->test_scores, base->test_labels, options.resamples,
                                 options.seed + domain_index);
      c.has_gain = gain.ok();
      if (gain.ok()) c.gain = *gain;
    }
    out.cells.push_back(c);
  }
  for (MethodConfidence& m : out.methods) {
    std::vector<double> auc, ctcvr;
    for (const MethodReport& run : runs) {
      auc.push_back(RunMean(run, m.method, false));
      ctcvr.push_back(RunMean(run, m.method, true));
    }
    m.mean_test_auc = DefinedInterval(auc);
    m.mean_test_ctcvr = DefinedInterval(ctcvr);
    for (const DomainConfidence& c : out.cells) {
      if (c.method != m.method || !c.has_gain) continue;
      m.domains_above += c.gain.above();
      m.domains_below += c.gain.below();
    }
    for (const MethodDomainResult& r : first) {
      if (r.method != m.method) continue;
      m.trainable_params += r.trainable_params;
      m.checkpoint_bytes += r.checkpoint_bytes;
    }
  }
  for (const MethodPair& pair : options.paired) {
    IAK_ASSIGN_OR_RETURN(std::vector<PairedSeedChange> changes, PairSeeds(runs, pair));
    out.paired.insert(out.paired.end(), changes.begin(), changes.end());
  }
  return out;
}

std::string SeedReport::ToMarkdown() const {
  std::ostringstream out;
  out << "Seeds";
  for (size_t i = 0; i < seeds.size(); ++i) out << (i == 0 ? " " : ", ") << seeds[i];
  out << "; mean over the seeds with its 95 % t-interval [low, high] (the base is the same "
         "model on every seed, so its interval has no width). Gain = the seeds' mean test AUC "
         "minus the frozen base's on the same domain, with the 95 % interval of a paired "
         "bootstrap over the domain's test samples ("
      << resamples
      << " draws, both models scored on each draw); **below** = the interval lies under zero "
         "(significantly worse than not fine-tuning), above = over zero.\n\n"
      << "| method | mean test AUC [95 %] |" << (has_ctcvr ? " mean test CTCVR-AUC [95 %] |" : "")
      << " domains above base | domains below base | trainable params | checkpoint bytes |\n"
      << "|---|---|" << (has_ctcvr ? "---|" : "") << "---|---|---|---|\n";
  for (const MethodConfidence& m : methods) {
    out << "| " << m.method << " | " << compare::Cell(m.mean_test_auc) << " |";
    if (has_ctcvr) out << " " << compare::Cell(m.mean_test_ctcvr) << " |";
    out << " " << m.domains_above << "/" << domains.size() << " | " << m.domains_below << "/"
        << domains.size() << " | " << m.trainable_params << " | " << m.checkpoint_bytes << " |\n";
  }
  auto table = [&](const char* title, auto cell) {
    out << "\n" << title << "\n\n| method |";
    for (const std::string& d : domains) out << " " << MarkdownCell(d) << " |";
    out << "\n|---|";
    for (size_t i = 0; i < domains.size(); ++i) out << "---|";
    out << "\n";
    for (const MethodConfidence& m : methods) {
      out << "| " << m.method << " |";
      for (const std::string& d : domains) {
        const DomainConfidence* c = Cell(m.method, d);
        out << " " << (c == nullptr ? "" : cell(*c)) << " |";
      }
      out << "\n";
    }
  };
  out << "\nTest samples per domain:";
  for (size_t i = 0; i < domains.size(); ++i) {
    const DomainConfidence* c = Cell(methods.front().method, domains[i]);
    out << (i == 0 ? " " : ", ") << domains[i] << " " << (c == nullptr ? 0 : c->test_samples);
  }
  out << ".\n";
  table("Test CTR-AUC per domain, mean over seeds [95 % t-interval]:",
        [](const DomainConfidence& c) { return compare::Cell(c.test_auc); });
  table("Gain in test CTR-AUC over the frozen base per domain [95 % paired bootstrap]:",
        [](const DomainConfidence& c) { return GainCell(c); });
  if (has_ctcvr) {
    table("Test CTCVR-AUC per domain, mean over seeds [95 % t-interval]:",
          [](const DomainConfidence& c) { return compare::Cell(c.test_ctcvr); });
  }
  out << PairedChangesMarkdown(paired);
  return out.str();
}

std::string SeedReport::ToJson() const {
  std::ostringstream out;
  out << "{\"seeds\": [";
  for (size_t i = 0; i < seeds.size(); ++i) out << (i ? ", " : "") << seeds[i];
  out << "], \"bootstrap_resamples\": " << resamples << ",\n \"methods\": [\n";
  for (size_t i = 0; i < methods.size(); ++i) {
    const MethodConfidence& m = methods[i];
    out << "  {\"method\": " << JsonQuote(m.method) << ", \"mean_test_auc\": "
        << JsonInterval(m.mean_test_auc)
        << ", \"mean_test_ctcvr_auc\": " << JsonInterval(m.mean_test_ctcvr)
        << ", \"domains_above_base\": " << m.domains_above
        << ", \"domains_below_base\": " << m.domains_below
        << ", \"trainable_params\": " << m.trainable_params
        << ", \"checkpoint_bytes\": " << m.checkpoint_bytes << "}"
        << (i + 1 < methods.size() ? "," : "") << "\n";
  }
  out << " ],\n \"domains\": [\n";
  for (size_t i = 0; i < cells.size(); ++i) {
    const DomainConfidence& c = cells[i];
    out << "  {\"method\": " << JsonQuote(c.method) << ", \"domain\": " << JsonQuote(c.domain)
        << ", \"test_samples\": " << c.test_samples
        << ", \"test_auc\": " << JsonInterval(c.test_auc)
        << ", \"test_ctcvr_auc\": " << JsonInterval(c.test_ctcvr) << ", \"gain_over_base\": ";
    if (c.has_gain) {
      char buf[200];
      std::snprintf(buf, sizeof(buf),
                    "{\"gain\": %.6f, \"low\": %.6f, \"high\": %.6f, \"resamples\": %d, "
                    "\"below\": %s, \"above\": %s}",
                    c.gain.gain, c.gain.low, c.gain.high, c.gain.resamples,
                    c.gain.below() ? "true" : "false", c.gain.above() ? "true" : "false");
      out << buf;
    } else {
      out << "null";
    }
    out << "}" << (i + 1 < cells.size() ? "," : "") << "\n";
  }
  out << " ],\n \"paired\": " << PairedChangesJson(paired) << "}\n";
  return out.str();
}

}  // namespace iak::compare
