// `iak eval`: per-domain AUC and logloss of the frozen base and of base + IAK.
#include <gflags/gflags.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "common/file_util.h"
#include "worker/evaluator.h"

DEFINE_string(split, "test", "which held-out split to score: test or validation");
DEFINE_string(json_out, "", "also write the results as JSON here (default <output_dir>/results.json)");

namespace iak::cli {

int RunEval(int, char**) {
  StatusOr<proto::JobSpec> spec = LoadJobFromFlags();
  if (!spec.ok()) return ReportError("eval", spec.status());
  if (FLAGS_split != "test" && FLAGS_split != "validation") {
    return ReportError("eval", InvalidArgumentError("--split must be test or validation, not " +
                                                    FLAGS_split));
  }
  StatusOr<worker::EvalReport> report = worker::EvaluateJob(
      *spec, FLAGS_split == "test" ? data::SplitPart::kTest : data::SplitPart::kValidation);
  if (!report.ok()) return ReportError("eval", report.status());
  std::cout << report->ToTable();
  const std::string json_path =
      FLAGS_json_out.empty() ? spec->output_dir() + "/results.json" : FLAGS_json_out;
  // An unwritable --json_out (a folder, say) was reported as written.
  if (Status written = WriteFileAtomically(json_path, report->ToJson()); !written.ok()) {
    return ReportError("eval", written.WithContext("--json_out"));
  }
  std::cout << "results written to " << json_path << "\n";
  return 0;
}

}  // namespace iak::cli
