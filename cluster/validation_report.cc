#include "cluster/validation_report.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "common/json_reader.h"
#include "common/report_text.h"

namespace iak::cluster {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A figure of the file: null (how the writer spells NaN) or absent is NaN.
double Figure(const JsonValue& value) {
  return value.kind() == JsonValue::Kind::kNumber ? value.Number() : kNaN;
}

int64_t Step(const JsonValue& value) { return static_cast<int64_t>(value.Number(0)); }

std::string Plain(double value) { return FormatShort(value, "NaN"); }

std::string Fixed4(double value, bool sign = false) {
  if (std::isnan(value)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), sign ? "%+.4f" : "%.4f", value);
  return text;
}

bool HasCurve(const UnitValidationRow& row) { return !row.curve.empty(); }

}  // namespace

StatusOr<std::vector<UnitValidationRow>> ParseValidationJson(const std::string& json) {
  StatusOr<JsonValue> doc = ParseJson(json);
  if (!doc.ok()) return DataLossError("validation.json: " + doc.status().message());
  const JsonValue& units = (*doc)["units"];
  if (units.kind() != JsonValue::Kind::kArray) {
    return DataLossError("validation.json has no \"units\" array");
  }
  std::vector<UnitValidationRow> rows;
  for (const JsonValue& u : units.Array()) {
    UnitValidationRow row;
    row.unit = u["unit"].String();
    if (row.unit.empty()) {
      return DataLossError("validation.json: unit " + std::to_string(rows.size()) +
                           " has no \"unit\" name");
    }
    row.evaluated = u["evaluated"].Bool();
    row.base_auc = Figure(u["base_auc"]);
    row.base_logloss = Figure(u["base_logloss"]);
    row.best_auc = Figure(u["best_auc"]);
    row.best_step = Step(u["best_step"]);
    row.kept_base = u["kept_base"].Bool();
    row.stopped = u["stopped"].Bool();
    row.stopped_at = Step(u["stopped_at"]);
    row.steps = Step(u["steps"]);
    for (const JsonValue& p : u["curve"].Array()) {
      row.curve.push_back({Step(p["global_step"]), Figure(p["auc"]), Figure(p["logloss"])});
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string ValidationPlotData(const std::vector<UnitValidationRow>& rows) {
  std::ostringstream out;
  bool first = true;
  for (const UnitValidationRow& row : rows) {
    if (!HasCurve(row)) continue;
    if (!first) out << "\n\n";
    first = false;
    out << "# " << row.unit << ": global_step auc base_auc\n";
    for (const ValidationCurvePoint& p : row.curve) {
      out << p.global_step << " " << Plain(p.auc) << " " << Plain(row.base_auc) << "\n";
    }
  }
  return out.str();
}

std::string ValidationPlotScript(const std::vector<UnitValidationRow>& rows,
                                 const std::string& data_path, const std::string& png_path) {
  std::ostringstream plot;
  int block = 0;
  for (const UnitValidationRow& row : rows) {
    if (!HasCurve(row)) continue;
    const std::string index = " index " + std::to_string(block);
    const std::string colour = " lc " + std::to_string(block + 1);
    plot << (block ? ", \\\n  " : "plot ") << GnuplotQuoted(data_path) << index
         << " using 1:2 with linespoints" << colour << " title " << GnuplotQuoted(row.unit)
         << ", \\\n  " << GnuplotQuoted(data_path) << index << " using 1:3 with lines dt 2"
         << colour << " notitle";
    ++block;
  }
  if (block == 0) return "";
  return "set output " + GnuplotQuoted(png_path) +
         "\n"
         "set title 'Validation CTR-AUC per domain (dashed: the frozen base)'\n"
         "set xlabel 'global step'\nset ylabel 'AUC'\nset grid\nset key outside right\n"
         "set autoscale\nset datafile missing 'NaN'\n" +
         plot.str() + "\n";
}

std::string ValidationTable(const std::vector<UnitValidationRow>& rows) {
  std::ostringstream md;
  md << "| domain | base AUC | best AUC | gain | best step | outcome |\n"
     << "|---|---|---|---|---|---|\n";
  for (const UnitValidationRow& row : rows) {
    std::string outcome;
    if (!row.evaluated) {
      outcome = "not evaluated";
    } else if (std::isnan(row.base_auc)) {
      outcome = "no AUC (one class): last parameters";
    } else {
      outcome = row.kept_base ? "kept base" : "improved";
      if (row.stopped) outcome += "; stopped early at step " + std::to_string(row.stopped_at);
    }
    const bool figures = row.evaluated && !std::isnan(row.base_auc);
    md << "| " << MarkdownCell(row.unit) << " | " << (row.evaluated ? Fixed4(row.base_auc) : "n/a")
       << " | " << (figures ? Fixed4(row.best_auc) : "n/a") << " | "
       << (figures ? Fixed4(row.best_auc - row.base_auc, true) : "n/a") << " | "
       << (figures ? std::to_string(row.best_step) + (row.best_step == 0 ? " (base)" : "")
                   : "n/a")
       << " | " << outcome << " |\n";
  }
  return md.str();
}

}  // namespace iak::cluster
