// The run report of a finished job: <output_dir>/report/ with report.md, the
// training loss over both phases (loss.png), each domain's validation AUC
// while training with a table of its base, best and outcome (validation.png,
// when <output_dir>/validation.json exists: cluster/validation_report.h),
// and each domain's test AUC, frozen base vs base + IAK (auc.png), plotted by
// gnuplot from the workers' progress log, validation.json and results.json.
#ifndef IAK_CLUSTER_RUN_REPORT_H_
#define IAK_CLUSTER_RUN_REPORT_H_

#include <string>
#include <vector>

#include "common/status.h"

namespace iak::cluster {

struct LossPoint {
  int64_t step = 0;  // global step, over all phases
  int phase = 0;     // 0 = compression, 1 = matching, ...
  double loss = 0;
};

// The loss points in a worker log ("progress: <phase> step i/n  loss x").
std::vector<LossPoint> ParseLossCurve(const std::string& log_text);

struct DomainAucRow {
  std::string domain;
  double base_auc = 0;
  double iak_auc = 0;
};

// A results.json written by `iak eval` / `iak demo`: its per-domain rows and
// the job's method ("iak" for files written before it was recorded).
struct ResultsFile {
  std::string method = "iak";
  std::vector<DomainAucRow> rows;
};
[[nodiscard]] StatusOr<ResultsFile> ParseResultsJson(const std::string& json);

// Writes the report; NotFound naming what is missing (log, results, gnuplot);
// DataLoss naming validation.json when it is there but unreadable.
[[nodiscard]] Status WriteRunReport(const std::string& output_dir);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_RUN_REPORT_H_
