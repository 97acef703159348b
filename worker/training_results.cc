#include "worker/training_results.h"

#include <filesystem>
#include <sstream>

#include "common/file_util.h"
#include "common/report_text.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"
#include "worker/model_factory.h"
#include "worker/validation.h"

namespace iak::worker {
namespace {

std::string Number(double value) { return FormatShort(value, "null"); }

// Rank 0's <dir>/domain_plan.tsv for an adapter job.
Status WriteAdapterPlan(const std::string& dir, const JobDomainPlan& plan,
                        const std::vector<TrainedUnit>& units) {
  std::vector<AdapterPlanRow> rows;
  for (size_t i = 0; i < plan.plan.domains.size(); ++i) {
    const DomainPlanEntry& e = plan.plan.domains[i];
    AdapterPlanRow r;
    r.domain = e.name;
    r.mode = DomainModeName(e.mode);
    r.reason = e.reason;
    const int a = plan.adapter_of_domain[i];
    if (a >= 0) {
      const TrainedUnit& unit = units[static_cast<size_t>(a)];
      r.adapter = unit.name;
      r.batch_size = unit.batch_size;
      r.lr_scale = unit.lr_scale;
      r.steps = unit.steps;
      r.samples = unit.samples;
    }
    if (r.mode != "own") {
      // A domain served by the shared adapter or the base model has no file
      // of its own; one left by an earlier run in this directory would
      // mislead a reader that ignores the plan file.
      std::error_code ignored;
      std::filesystem::remove(AdapterPath(dir, e.name), ignored);
    }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) return Status::Ok();
  IAK_RETURN_IF_ERROR(CreateDirectories(dir));
  return SaveAdapterPlan(dir, rows);
}

}  // namespace

std::string ValidationJson(const std::vector<TrainedUnit>& units) {
  std::ostringstream out;
  out << "{\"units\": [";
  for (size_t u = 0; u < units.size(); ++u) {
    const proto::UnitValidation& v = units[u].validation;
    out << (u ? ",\n  " : "\n  ") << "{\"unit\": " << JsonQuote(units[u].name)
        << ", \"evaluated\": " << (v.evaluated() ? "true" : "false")
        << ", \"base_auc\": " << Number(v.base_auc())
        << ", \"base_logloss\": " << Number(v.base_logloss())
        << ", \"best_auc\": " << Number(v.best_auc()) << ", \"best_step\": " << v.best_step()
        << ", \"kept_base\": " << (KeptBase(v) ? "true" : "false")
        << ", \"stopped\": " << (v.stopped() ? "true" : "false")
        << ", \"stopped_at\": " << v.stopped_at() << ", \"steps\": " << units[u].steps
        << ", \"curve\": [";
    for (int i = 0; i < v.curve_size(); ++i) {
      const proto::ValidationPoint& p = v.curve(i);
      out << (i ? ", " : "") << "{\"global_step\": " << p.global_step()
          << ", \"auc\": " << Number(p.auc()) << ", \"logloss\": " << Number(p.logloss()) << "}";
    }
    out << "]}";
  }
  out << "\n]}\n";
  return out.str();
}

Status WriteTrainingResults(const proto::JobSpec& spec, const JobDomainPlan& plan,
                            const std::vector<TrainedUnit>& units) {
  if (IsAdapterMethod(spec.method())) {
    IAK_RETURN_IF_ERROR(WriteAdapterPlan(spec.output_dir() + "/adapters", plan, units));
  }
  IAK_RETURN_IF_ERROR(CreateDirectories(spec.output_dir()));
  return WriteFileAtomically(spec.output_dir() + "/validation.json", ValidationJson(units));
}

}  // namespace iak::worker
