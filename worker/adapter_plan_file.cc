#include "worker/adapter_plan_file.h"

#include <cstdlib>
#include <map>
#include <sstream>

#include "common/file_util.h"

namespace iak::worker {
namespace {

constexpr char kHeader[] = "# domain\tmode\tadapter\tbatch\tlr_scale\tsteps\tsamples\treason\n";

bool Clean(const std::string& s) { return s.find_first_of("\t\n\r") == std::string::npos; }

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    const size_t tab = line.find('\t', begin);
    out.push_back(line.substr(begin, tab == std::string::npos ? std::string::npos : tab - begin));
    if (tab == std::string::npos) return out;
    begin = tab + 1;
  }
}

bool ParseInt(const std::string& s, int64_t* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtoll(s.c_str(), &end, 10);
  return *end == '\0';
}

}  // namespace

std::string AdapterPlanRow::Note() const {
  if (mode == "shared") return "shared adapter " + adapter;
  if (mode == "base") {
    // The reason reads "<why>: base model (...)"; the note keeps the why.
    const size_t colon = reason.find(": base model");
    return "base model (cold: " + (colon == std::string::npos ? reason : reason.substr(0, colon)) +
           ")";
  }
  return "";
}

std::string AdapterPlanPath(const std::string& dir) { return dir + "/domain_plan.tsv"; }

Status SaveAdapterPlan(const std::string& dir, const std::vector<AdapterPlanRow>& rows) {
  std::ostringstream out;
  out << kHeader;
  for (const AdapterPlanRow& r : rows) {
    if (!Clean(r.domain) || !Clean(r.adapter) || !Clean(r.reason) || r.domain.empty()) {
      return InvalidArgumentError("adapter plan: domain '" + r.domain +
                                  "' has an empty name or a tab/newline in a field");
    }
    char lr[32];
    std::snprintf(lr, sizeof(lr), "%.6f", r.lr_scale);
    out << r.domain << '\t' << r.mode << '\t' << (r.adapter.empty() ? "-" : r.adapter) << '\t'
        << r.batch_size << '\t' << lr << '\t' << r.steps << '\t' << r.samples << '\t' << r.reason
        << '\n';
  }
  return WriteFileAtomically(AdapterPlanPath(dir), out.str());
}

StatusOr<std::vector<AdapterPlanRow>> LoadAdapterPlan(const std::string& dir) {
  const std::string path = AdapterPlanPath(dir);
  std::string text;
  Status read = ReadFileToString(path, &text);
  if (!read.ok()) return NotFoundError("no adapter plan at " + path + ": " + read.message());
  std::vector<AdapterPlanRow> rows;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> f = SplitTabs(line);
    auto bad = [&](const std::string& why) {
      return InvalidArgumentError(path + ":" + std::to_string(line_no) + ": " + why +
                                  "; rerun the job (iak submit) to rewrite it");
    };
    if (f.size() != 8) return bad("expected 8 tab-separated fields, got " + std::to_string(f.size()));
    AdapterPlanRow r;
    r.domain = f[0];
    r.mode = f[1];
    r.adapter = f[2] == "-" ? "" : f[2];
    int64_t batch = 0;
    if (r.mode != "own" && r.mode != "shared" && r.mode != "base") {
      return bad("mode '" + r.mode + "' is not own, shared or base");
    }
    if (r.mode != "base" && r.adapter.empty()) return bad("mode " + r.mode + " without an adapter");
    if (!ParseInt(f[3], &batch) || !ParseInt(f[5], &r.steps) || !ParseInt(f[6], &r.samples)) {
      return bad("batch, steps and samples must be integers");
    }
    r.batch_size = static_cast<int>(batch);
    char* end = nullptr;
    r.lr_scale = std::strtod(f[4].c_str(), &end);
    if (f[4].empty() || *end != '\0') return bad("lr_scale '" + f[4] + "' is not a number");
    r.reason = f[7];
    rows.push_back(std::move(r));
  }
  return rows;
}

StatusOr<std::vector<AdapterPlanRow>> ResolveDomainAdapters(
    const std::string& dir, const std::vector<std::string>& domains) {
  StatusOr<std::vector<AdapterPlanRow>> plan = LoadAdapterPlan(dir);
  std::vector<AdapterPlanRow> out;
  if (!plan.ok()) {
    if (plan.status().code() != StatusCode::kNotFound) return plan.status();
    for (const std::string& d : domains) {
      AdapterPlanRow r;
      r.domain = d;
      r.adapter = d;
      out.push_back(r);
    }
    return out;
  }
  std::map<std::string, AdapterPlanRow> by_domain;
  for (const AdapterPlanRow& r : *plan) by_domain[r.domain] = r;
  for (const std::string& d : domains) {
    auto it = by_domain.find(d);
    if (it != by_domain.end()) {
      out.push_back(it->second);
      continue;
    }
    AdapterPlanRow r;
    r.domain = d;
    r.mode = "base";
    r.reason = "not fine-tuned by the job: base model";
    out.push_back(r);
  }
  return out;
}

}  // namespace iak::worker
