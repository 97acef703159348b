// The validation part of the run report (cluster/run_report.h): each
// training unit's record from <output_dir>/validation.json (written by rank
// 0 at the end, worker/training_results.h), plotted as AUC vs global step
// with the frozen base as a dashed level (validation.png), and a table of
// base AUC, best AUC, best step and whether the unit kept the base or
// stopped early.
//
// Thread-safety: functions.
#ifndef IAK_CLUSTER_VALIDATION_REPORT_H_
#define IAK_CLUSTER_VALIDATION_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::cluster {

struct ValidationCurvePoint {
  int64_t global_step = 0;
  double auc = 0;      // NaN when the split held one class (null in the file)
  double logloss = 0;
};

// One unit of validation.json; a figure the file holds as null is NaN.
struct UnitValidationRow {
  std::string unit;  // a domain, or "shared:<d1>+<d2>..."
  bool evaluated = false;
  double base_auc = 0;
  double base_logloss = 0;
  double best_auc = 0;
  int64_t best_step = 0;  // 0 = the base
  bool kept_base = false;
  bool stopped = false;
  int64_t stopped_at = 0;
  int64_t steps = 0;
  std::vector<ValidationCurvePoint> curve;
};

// The units of a validation.json text. DataLoss naming what is wrong when
// it is not JSON or has no "units" array, or a unit has no name.
[[nodiscard]] StatusOr<std::vector<UnitValidationRow>> ParseValidationJson(
    const std::string& json);

// gnuplot's data for `rows`: per unit with a curve, a block (its index the
// unit's position among those) of "global_step auc base_auc" lines, blocks
// apart by two blank lines; NaN for a missing AUC.
std::string ValidationPlotData(const std::vector<UnitValidationRow>& rows);

// The gnuplot commands that draw `data_path` into `png_path`: a line per
// unit, its base dashed in the same colour. Empty when no unit has a curve.
std::string ValidationPlotScript(const std::vector<UnitValidationRow>& rows,
                                 const std::string& data_path, const std::string& png_path);

// The report's markdown table: domain, base AUC, best AUC, gain, best step,
// outcome (improved / kept base / stopped early at step N / not evaluated).
std::string ValidationTable(const std::vector<UnitValidationRow>& rows);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_VALIDATION_REPORT_H_
