#include "compare/paired_seeds.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/report_text.h"

namespace iak::compare {
namespace {

std::string ChangeCell(const Interval& i) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%+.4f [%+.4f, %+.4f]", i.mean, i.low, i.high);
  return buf;
}

}  // namespace

StatusOr<std::vector<MethodPair>> ParseMethodPairs(const std::string& list) {
  std::vector<MethodPair> pairs;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) continue;
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size() ||
        item.find(':', colon + 1) != std::string::npos) {
      return InvalidArgumentError("'" + item +
                                  "' is not METHOD:AGAINST (two method or variant names, e.g. "
                                  "iak-bf16:iak)");
    }
    pairs.emplace_back(item.substr(0, colon), item.substr(colon + 1));
  }
  return pairs;
}

StatusOr<std::vector<PairedSeedChange>> PairSeeds(const std::vector<MethodReport>& runs,
                                                  const MethodPair& pair) {
  if (runs.empty()) return InvalidArgumentError("no runs to pair");
  const MethodReport& first = runs.front();
  for (const std::string& name : {pair.first, pair.second}) {
    bool found = false;
    for (const MethodDomainResult& r : first.results) found |= r.method == name;
    if (!found) {
      return InvalidArgumentError("cannot pair '" + pair.first + "' with '" + pair.second +
                                  "': '" + name + "' is not a method or variant of this "
                                  "comparison");
    }
  }
  std::vector<PairedSeedChange> changes;
  for (size_t i = 0; i < first.results.size(); ++i) {
    if (first.results[i].method != pair.first) continue;
    const std::string& domain = first.results[i].domain;
    size_t j = 0;
    while (j < first.results.size() &&
           (first.results[j].method != pair.second || first.results[j].domain != domain)) {
      ++j;
    }
    if (j == first.results.size()) continue;
    PairedSeedChange c;
    c.method = pair.first;
    c.against = pair.second;
    c.domain = domain;
    std::vector<double> differences;
    for (const MethodReport& run : runs) {
      // Every run holds the same results in the same order (SummarizeSeeds
      // checks it before pairing).
      const double a = run.results[i].test_auc;
      const double b = run.results[j].test_auc;
      if (std::isnan(a) || std::isnan(b)) continue;
      differences.push_back(a - b);
      c.identical += a == b;
    }
    StatusOr<Interval> change = MeanWithTInterval(differences);
    if (change.ok()) c.change = *change;
    changes.push_back(std::move(c));
  }
  return changes;
}

std::string PairedChangesMarkdown(const std::vector<PairedSeedChange>& changes) {
  std::ostringstream out;
  for (size_t i = 0; i < changes.size(); ++i) {
    const PairedSeedChange& c = changes[i];
    const bool opens = i == 0 || changes[i - 1].method != c.method ||
                       changes[i - 1].against != c.against;
    if (opens) {
      out << "\n## Paired by seed: " << c.method << " against " << c.against << "\n\n"
          << "Per domain, the mean over seeds of (" << c.method << "'s test AUC - " << c.against
          << "'s), both trained from the same start and batches, with its 95 % t-interval; "
             "**significant** = the interval excludes zero.\n\n"
          << "| domain | seeds | change in test AUC [95 %] | seeds identical |\n"
          << "|---|---|---|---|\n";
    }
    out << "| " << MarkdownCell(c.domain) << " | " << c.change.n << " | "
        << (c.change.n == 0 ? "n/a" : ChangeCell(c.change))
        << (c.significant() ? " **significant**" : "") << " | " << c.identical << " |\n";
    const bool closes = i + 1 == changes.size() || changes[i + 1].method != c.method ||
                        changes[i + 1].against != c.against;
    if (!closes) continue;
    int domains = 0, within = 0;
    std::string moved;
    for (const PairedSeedChange& d : changes) {
      if (d.method != c.method || d.against != c.against || d.change.n == 0) continue;
      ++domains;
      within += std::abs(d.change.mean) <= kNegligibleAucChange;
      if (d.significant()) moved += (moved.empty() ? "" : ", ") + d.domain;
    }
    char summary[160];
    std::snprintf(summary, sizeof(summary), "\nWithin %.3f: %d / %d domains; significant: ",
                  kNegligibleAucChange, within, domains);
    out << summary << (moved.empty() ? "none" : moved) << ".\n";
  }
  return out.str();
}

std::string PairedChangesJson(const std::vector<PairedSeedChange>& changes) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < changes.size(); ++i) {
    const PairedSeedChange& c = changes[i];
    char buf[200];
    std::snprintf(buf, sizeof(buf),
                  "\"mean\": %.6f, \"low\": %.6f, \"high\": %.6f, \"seeds\": %d, "
                  "\"identical\": %d, \"significant\": %s",
                  c.change.mean, c.change.low, c.change.high, c.change.n, c.identical,
                  c.significant() ? "true" : "false");
    out << (i ? ",\n  " : "\n  ") << "{\"method\": " << JsonQuote(c.method)
        << ", \"against\": " << JsonQuote(c.against) << ", \"domain\": " << JsonQuote(c.domain)
        << ", " << buf << "}";
  }
  out << (changes.empty() ? "]" : "\n ]");
  return out.str();
}

}  // namespace iak::compare
