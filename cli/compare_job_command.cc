// `iak compare --job=J`: every chosen method (--compare_methods, then the
// named variants of --compare_variants) trained on the job's own data with
// the job's own spec (phases, batch, domain plan, validation) through the
// trainer cluster jobs run, for each seed of --compare_seeds; the tables go
// to <output_dir>/compare/ (or --compare_markdown / --compare_json). With
// several seeds the tables open with the confidence summary
// (compare/seed_report.h: mean and 95 % interval over seeds, paired bootstrap
// against the frozen base per domain), and the pairs of --compare_paired
// compared seed by seed (compare/paired_seeds.h). The job's model directory must exist
// (`iak pretrain --job=J`).
#include <gflags/gflags.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/compare_flags.h"
#include "common/file_util.h"
#include "common/report_text.h"
#include "compare/method_comparison.h"
#include "compare/paired_seeds.h"
#include "compare/seed_report.h"
#include "job/job_spec.h"

DEFINE_string(compare_seeds, "",
              "iak compare --job: comma-separated seeds to run every method with (default: the "
              "job's seed)");
DEFINE_string(compare_variants, "",
              "iak compare --job: ';'-separated named method variants run after "
              "--compare_methods, each NAME=METHOD:SPEC TEXT, a text-format JobSpec merged over "
              "the method's spec, a list it sets replacing the job's (e.g. \"iak-l32=iak:iak { "
              "latent_dim: 32 }\", \"linear=iak:iak { encoder_hidden: 0 decoder_hidden: 0 }\"); "
              "each merged spec is checked like a job spec before anything trains");
DEFINE_string(compare_paired, "",
              "iak compare --job: comma-separated METHOD:AGAINST pairs of --compare_methods or "
              "--compare_variants names (e.g. iak-bf16:iak), each compared seed by seed: per "
              "domain the mean change in test AUC with its 95 % t-interval");
DEFINE_int32(compare_bootstrap_resamples, 1000,
             "iak compare --job: draws of the paired bootstrap against the frozen base");

namespace iak::cli {
namespace {

StatusOr<std::vector<uint64_t>> ParseSeeds(const std::string& list, uint64_t job_seed) {
  std::vector<uint64_t> seeds;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) continue;
    if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 19) {
      return InvalidArgumentError("--compare_seeds: '" + item +
                                  "' is not a seed (a non-negative integer below 10^19)");
    }
    seeds.push_back(std::stoull(item));
  }
  if (seeds.empty()) seeds.push_back(job_seed);
  return seeds;
}

// The pairs of --compare_paired, each name one of the methods or variants
// this run trains: checked before anything trains.
StatusOr<std::vector<compare::MethodPair>> CheckedPairs(
    const std::string& list, const std::vector<compare::Method>& methods,
    const std::vector<compare::MethodVariant>& variants) {
  IAK_ASSIGN_OR_RETURN(std::vector<compare::MethodPair> pairs, compare::ParseMethodPairs(list));
  std::vector<std::string> names;
  for (compare::Method m : methods) names.push_back(compare::MethodName(m));
  for (const compare::MethodVariant& v : variants) names.push_back(v.name);
  for (const compare::MethodPair& pair : pairs) {
    for (const std::string& name : {pair.first, pair.second}) {
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      return InvalidArgumentError("'" + name + "' is not trained by this run (its methods and "
                                  "variants: " + known + ")");
    }
  }
  return pairs;
}

StatusOr<std::vector<compare::MethodVariant>> ParseVariants(const std::string& list) {
  std::vector<compare::MethodVariant> variants;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ';');) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    IAK_ASSIGN_OR_RETURN(compare::MethodVariant v, compare::ParseMethodVariant(item));
    variants.push_back(v);
  }
  return variants;
}

// For IAK and each of its variants ("iak..."): its mean against the other
// adapter-sized baselines and full fine-tuning, and the domains where it is
// significantly below the frozen base, read off the summary.
std::string IakReadOff(const compare::SeedReport& summary) {
  std::ostringstream out;
  auto find = [&](const std::string& name) -> const compare::MethodConfidence* {
    for (const compare::MethodConfidence& m : summary.methods) {
      if (m.method == name) return &m;
    }
    return nullptr;
  };
  char line[160];
  for (const compare::MethodConfidence& m : summary.methods) {
    if (m.method.rfind("iak", 0) != 0 || m.mean_test_auc.n == 0) continue;
    out << "\n### " << m.method << ", read off the table\n\n";
    for (const char* other : {"dense", "lora", "plain", "full"}) {
      const compare::MethodConfidence* o = find(other);
      if (o == nullptr || o->mean_test_auc.n == 0) continue;
      std::snprintf(line, sizeof(line), "- mean test AUC %.4f vs %s %.4f: %s\n",
                    m.mean_test_auc.mean, other, o->mean_test_auc.mean,
                    m.mean_test_auc.mean >= o->mean_test_auc.mean ? "at least equal" : "BELOW");
      out << line;
      if (std::string(other) != "full") continue;
      // How much larger full fine-tuning's output is than this method's.
      const std::pair<const char*, double> sizes[] = {
          {"trained values (rows it trained + dense weights)",
           m.trainable_params > 0 ? static_cast<double>(o->trainable_params) / m.trainable_params
                                  : 0.0},
          {"checkpoint (trained values + optimizer state)",
           m.checkpoint_bytes > 0 ? static_cast<double>(o->checkpoint_bytes) / m.checkpoint_bytes
                                  : 0.0}};
      for (const auto& [what, ratio] : sizes) {
        if (ratio <= 0) continue;
        std::snprintf(line, sizeof(line), "- full fine-tuning's %s / %s's: %.1fx\n", what,
                      m.method.c_str(), ratio);
        out << line;
      }
    }
    std::ostringstream below;
    for (const compare::DomainConfidence& c : summary.cells) {
      if (c.method == m.method && c.has_gain && c.gain.below()) {
        below << (below.str().empty() ? "" : ", ") << c.domain;
      }
    }
    out << "- significantly below the frozen base on " << m.domains_below << " of "
        << summary.domains.size() << " domains" << (below.str().empty() ? "" : ": ")
        << below.str() << "; significantly above on " << m.domains_above << "\n";
  }
  return out.str();
}

}  // namespace

int RunCompareForJob(const std::vector<compare::Method>& methods) {
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("compare", spec.status());
  if (!std::filesystem::exists(spec->model_dir())) {
    return ReportError("compare", FailedPreconditionError(
                                      "the job's model_dir " + spec->model_dir() +
                                      " does not exist; pre-train it first: iak pretrain --job=" +
                                      FLAGS_job));
  }
  StatusOr<std::vector<uint64_t>> seeds = ParseSeeds(FLAGS_compare_seeds, spec->seed());
  if (!seeds.ok()) return ReportError("compare", seeds.status());
  StatusOr<std::vector<compare::MethodVariant>> variants = ParseVariants(FLAGS_compare_variants);
  if (!variants.ok()) {
    return ReportError("compare", variants.status().WithContext("--compare_variants"));
  }
  StatusOr<std::vector<compare::MethodPair>> paired =
      CheckedPairs(FLAGS_compare_paired, methods, *variants);
  if (!paired.ok()) {
    return ReportError("compare", paired.status().WithContext("--compare_paired"));
  }
  if (FLAGS_compare_bootstrap_resamples < 1) {
    return ReportError("compare",
                       InvalidArgumentError("--compare_bootstrap_resamples must be >= 1"));
  }
  const std::string dir = spec->output_dir() + "/compare";
  if (Status made = CreateDirectories(dir); !made.ok()) return ReportError("compare", made);
  std::ostringstream per_seed, runs_json;
  std::vector<compare::MethodReport> reports;
  for (size_t i = 0; i < seeds->size(); ++i) {
    const uint64_t seed = (*seeds)[i];
    compare::ComparisonOptions options;
    options.methods = methods;
    options.variants = *variants;
    options.job = *spec;
    options.job->set_seed(seed);
    std::cerr << "compare: job " << spec->name() << ", seed " << seed << "\n";
    StatusOr<compare::MethodReport> report =
        compare::RunComparisonOnModelDir(spec->data(), spec->model_dir(), options);
    if (!report.ok()) return ReportError("compare", report.status());
    per_seed << "\n### Seed " << seed << "\n\n" << report->ToMarkdown();
    runs_json << "{\"seed\": " << seed << ", \"report\": " << report->ToJson() << "}"
              << (i + 1 < seeds->size() ? "," : "") << "\n";
    std::cout << "seed " << seed << ":\n" << report->ToMarkdown() << "\n";
    reports.push_back(std::move(*report));
  }
  compare::ConfidenceOptions confidence;
  confidence.resamples = FLAGS_compare_bootstrap_resamples;
  confidence.paired = *paired;
  StatusOr<compare::SeedReport> summary = compare::SummarizeSeeds(reports, *seeds, confidence);
  if (!summary.ok()) return ReportError("compare", summary.status());
  std::ostringstream md, json;
  md << "# Methods compared on job " << spec->name() << "\n\n"
     << "Every method trains with this job's phases, batch size, domain plan and validation, "
        "through the trainer its cluster workers run (one process, embeddings read locally); "
        "each domain ends at its best validation point.\n\n"
     << summary->ToMarkdown() << IakReadOff(*summary) << "\n## Per seed\n" << per_seed.str();
  json << "{\"job\": " << JsonQuote(spec->name()) << ",\n\"confidence\": " << summary->ToJson()
       << ",\n\"runs\": [\n" << runs_json.str() << "]}\n";
  std::cout << summary->ToMarkdown();
  const std::string md_path =
      FLAGS_compare_markdown.empty() ? dir + "/results.md" : FLAGS_compare_markdown;
  const std::string json_path =
      FLAGS_compare_json.empty() ? dir + "/results.json" : FLAGS_compare_json;
  std::ofstream(md_path) << md.str();
  std::ofstream(json_path) << json.str();
  std::cout << "written: " << md_path << ", " << json_path << "\n";
  return 0;
}

}  // namespace iak::cli
