#include "cluster/run_report.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <sstream>

#include "cluster/child_process.h"
#include "cluster/validation_report.h"
#include "common/file_util.h"
#include "common/json_reader.h"
#include "common/report_text.h"
#include "worker/evaluator.h"

namespace iak::cluster {
namespace {

// An AUC of the file: `iak eval` writes null where it is undefined (a split
// of one class); false when the member is absent or not a number.
bool AucOf(const JsonValue& row, const std::string& key, double* value) {
  const JsonValue& v = row[key];
  if (v.is_null() && row.Has(key)) {
    *value = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (v.kind() != JsonValue::Kind::kNumber) return false;
  *value = v.Number();
  return true;
}

}  // namespace

std::vector<LossPoint> ParseLossCurve(const std::string& log_text) {
  std::vector<LossPoint> points;
  std::istringstream in(log_text);
  std::string line;
  int phase = -1;
  int64_t phase_start = 0;
  int64_t last_step = 0;
  while (std::getline(in, line)) {
    const size_t at = line.find("progress: ");
    if (at == std::string::npos) continue;
    const std::string text = line.substr(at + 10);
    if (text.rfind("phase ", 0) == 0) {
      ++phase;
      phase_start = last_step;
      continue;
    }
    const size_t step = text.find(" step ");
    const size_t loss = text.find(" loss ");
    if (step == std::string::npos || loss == std::string::npos || phase < 0) continue;
    LossPoint point;
    point.phase = phase;
    point.step = phase_start + std::atoll(text.c_str() + step + 6);
    point.loss = std::strtod(text.c_str() + loss + 6, nullptr);
    last_step = point.step;
    points.push_back(point);
  }
  return points;
}

StatusOr<ResultsFile> ParseResultsJson(const std::string& json) {
  StatusOr<JsonValue> doc = ParseJson(json);
  if (!doc.ok()) {
    return DataLossError("results.json is not JSON (" + doc.status().message() +
                         "): rerun `iak eval` to rewrite it");
  }
  ResultsFile results;
  if ((*doc)["method"].kind() == JsonValue::Kind::kString) results.method = (*doc)["method"].String();
  std::vector<DomainAucRow>& rows = results.rows;
  for (const JsonValue& d : (*doc)["domains"].Array()) {
    DomainAucRow row;
    row.domain = d["domain"].String();
    if (d["domain"].kind() != JsonValue::Kind::kString || !AucOf(d, "base_auc", &row.base_auc) ||
        !AucOf(d, "iak_auc", &row.iak_auc)) {
      return DataLossError("results.json: domain '" + row.domain +
                           "' has no name, base_auc or iak_auc");
    }
    rows.push_back(row);
  }
  if (rows.empty()) return DataLossError("results.json holds no domain rows");
  return results;
}

Status WriteRunReport(const std::string& output_dir) {
  const std::string dir = output_dir + "/report";
  std::string log_text;
  std::string log_path = output_dir + "/logs/workers.log";
  if (!ReadFileToString(log_path, &log_text).ok()) {
    return NotFoundError("no worker log at " + log_path + " to plot the loss from");
  }
  const std::vector<LossPoint> loss = ParseLossCurve(log_text);
  std::string json;
  if (!ReadFileToString(output_dir + "/results.json", &json).ok()) {
    return NotFoundError("no " + output_dir + "/results.json; run `iak eval` first");
  }
  IAK_ASSIGN_OR_RETURN(ResultsFile results, ParseResultsJson(json));
  const std::vector<DomainAucRow>& auc = results.rows;
  const std::string label = worker::MethodLabel(results.method);
  // Validation while training: absent when it was off (or an older run).
  std::vector<UnitValidationRow> validation;
  std::string validation_text;
  const std::string validation_path = output_dir + "/validation.json";
  const bool has_validation = std::filesystem::exists(validation_path);
  if (has_validation) {
    IAK_RETURN_IF_ERROR(ReadFileToString(validation_path, &validation_text));
    StatusOr<std::vector<UnitValidationRow>> rows = ParseValidationJson(validation_text);
    if (!rows.ok()) return rows.status().WithContext(validation_path);
    validation = std::move(rows).value();
  }
  // Only now, with every input read: a wrong folder gets an error, not an
  // empty report/ folder.
  IAK_RETURN_IF_ERROR(CreateDirectories(dir));

  std::ostringstream loss_data;
  for (const LossPoint& p : loss) loss_data << p.step << " " << p.phase << " " << p.loss << "\n";
  std::ostringstream auc_data;
  for (const DomainAucRow& r : auc) {
    auc_data << GnuplotDataLabel(r.domain) << " " << r.base_auc << " " << r.iak_auc << "\n";
  }
  IAK_RETURN_IF_ERROR(WriteFileAtomically(dir + "/loss.dat", loss_data.str()));
  IAK_RETURN_IF_ERROR(WriteFileAtomically(dir + "/auc.dat", auc_data.str()));
  const std::string validation_script =
      ValidationPlotScript(validation, dir + "/validation.dat", dir + "/validation.png");
  if (!validation_script.empty()) {
    IAK_RETURN_IF_ERROR(
        WriteFileAtomically(dir + "/validation.dat", ValidationPlotData(validation)));
  } else {
    // An earlier report's plot of another run would mislead.
    std::error_code ignored;
    std::filesystem::remove(dir + "/validation.dat", ignored);
    std::filesystem::remove(dir + "/validation.png", ignored);
  }
  const std::string script =
      "set terminal pngcairo size 900,420 noenhanced\n"
      "set output " + GnuplotQuoted(dir + "/loss.png") + "\n"
      "set title 'Training loss (worker 0), knowledge compression then matching'\n"
      "set xlabel 'step'\nset ylabel 'loss'\nset grid\nset key top right\n"
      "plot " + GnuplotQuoted(dir + "/loss.dat") +
      " using 1:($2==0?$3:1/0) with linespoints title 'compression', "
      "'' using 1:($2==1?$3:1/0) with linespoints title 'matching'\n" +
      validation_script +
      "set output " + GnuplotQuoted(dir + "/auc.png") + "\n"
      "set title 'Test CTR-AUC per domain'\nset style data histograms\n"
      "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
      "set ylabel 'AUC'\nset xlabel 'domain'\nset key top left\nset yrange [0.5:*]\n"
      "plot " + GnuplotQuoted(dir + "/auc.dat") + " using 2:xtic(1) title 'frozen base', '' "
      "using 3 title " + GnuplotQuoted(results.method == "iak" ? "base + IAK" : label) + "\n";
  IAK_RETURN_IF_ERROR(WriteFileAtomically(dir + "/plots.gp", script));
  std::string output;
  StatusOr<int> code = RunAndCapture({"gnuplot", dir + "/plots.gp"},
                                     Deadline::After(Duration(60000)), &output);
  if (!code.ok() || *code != 0) {
    return NotFoundError("gnuplot could not draw the plots (is Debian's gnuplot-nox installed?): " +
                         (code.ok() ? output : code.status().ToString()));
  }

  std::ostringstream md;
  md << "# Run report\n\n![training loss](loss.png)\n\n";
  const bool evaluated = std::any_of(validation.begin(), validation.end(),
                                     [](const UnitValidationRow& r) { return r.evaluated; });
  if (!evaluated) {
    md << (has_validation ? "`validation.json` records no evaluation"
                          : "No `validation.json`")
       << ": validation while training was off (`validation { disabled: true }`), so each "
          "domain ends with its last parameters.\n\n";
  } else {
    md << "## Validation while training\n\n";
    if (!validation_script.empty()) md << "![validation AUC per domain](validation.png)\n\n";
    md << ValidationTable(validation)
       << "\nEach domain ends with its best validation point; \"kept base\" means no "
          "evaluation beat the frozen base, so the domain keeps its parameters from before "
          "training (an adapter's leave the base unchanged). From `validation.json`.\n\n";
  }
  md << "## Test AUC\n\n![AUC per domain](auc.png)\n\n"
     << "| domain | base AUC | " << label << " AUC | gain |\n|---|---|---|---|\n";
  for (const DomainAucRow& r : auc) {
    char figures[96];
    std::snprintf(figures, sizeof(figures), " | %.4f | %.4f | %+.4f |\n", r.base_auc, r.iak_auc,
                  r.iak_auc - r.base_auc);
    md << "| " << MarkdownCell(r.domain) << figures;
  }
  md << "\n" << loss.size() << " loss points from `logs/workers.log`; data in `loss.dat`, "
     << (validation_script.empty() ? "" : "`validation.dat`, ")
     << "`auc.dat`; plots by `gnuplot plots.gp`.\n";
  return WriteFileAtomically(dir + "/report.md", md.str());
}

}  // namespace iak::cluster
