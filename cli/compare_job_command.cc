// `iak compare --job=J`: every chosen method (--compare_methods) trained on
// the job's own data with the job's own spec (phases, batch, domain plan,
// validation) through the trainer cluster jobs run, for each seed of
// --compare_seeds; the tables go to <output_dir>/compare/ (or
// --compare_markdown / --compare_json). The job's model directory must exist
// (`iak pretrain --job=J`).
#include <gflags/gflags.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/compare_flags.h"
#include "compare/method_comparison.h"
#include "job/job_spec.h"

DEFINE_string(compare_seeds, "",
              "iak compare --job: comma-separated seeds to run every method with (default: the "
              "job's seed)");

namespace iak::cli {

int RunCompareForJob(const std::vector<compare::Method>& methods) {
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("compare", spec.status());
  if (!std::filesystem::exists(spec->model_dir())) {
    return ReportError("compare", FailedPreconditionError(
                                      "the job's model_dir " + spec->model_dir() +
                                      " does not exist; pre-train it first: iak pretrain --job=" +
                                      FLAGS_job));
  }
  std::vector<uint64_t> seeds;
  std::stringstream list(FLAGS_compare_seeds);
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) seeds.push_back(std::stoull(item));
  }
  if (seeds.empty()) seeds.push_back(spec->seed());
  const std::string dir = spec->output_dir() + "/compare";
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) return ReportError("compare", IoError("cannot create " + dir + ": " + made.message()));
  std::ostringstream md, json;
  md << "# Methods compared on job " << spec->name() << " (" << FLAGS_job << ")\n\n"
     << "Every method trains with this job's phases, batch size, domain plan and validation, "
        "through the trainer its cluster workers run (one process, embeddings read locally); "
        "each domain ends at its best validation point.\n";
  json << "{\"job\": \"" << spec->name() << "\", \"runs\": [\n";
  for (size_t i = 0; i < seeds.size(); ++i) {
    compare::ComparisonOptions options;
    options.methods = methods;
    options.job = *spec;
    options.job->set_seed(seeds[i]);
    std::cerr << "compare: job " << spec->name() << ", seed " << seeds[i] << "\n";
    StatusOr<compare::MethodReport> report =
        compare::RunComparisonOnModelDir(spec->data(), spec->model_dir(), options);
    if (!report.ok()) return ReportError("compare", report.status());
    md << "\n## Seed " << seeds[i] << "\n\n" << report->ToMarkdown();
    json << "{\"seed\": " << seeds[i] << ", \"report\": " << report->ToJson() << "}"
         << (i + 1 < seeds.size() ? "," : "") << "\n";
    std::cout << "seed " << seeds[i] << ":\n" << report->ToMarkdown() << "\n";
  }
  json << "]}\n";
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
