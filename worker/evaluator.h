// Evaluator: per-domain quality of the frozen base model and of the job's
// tuned model (the domain's adapter, or its dense-family model) on a
// held-out split, as a table and as JSON. Scoring is `iak predict`'s
// (worker/domain_predictor.h), so what eval reports is what predict serves.
//
// Always CTR-AUC and log loss (of pCTR against the click label). When the
// base has two tasks (ESMM) and the data has conversion labels, also
// CTCVR-AUC: pCTCVR = pCTR * pCVR against click AND conversion
// (model::CtcvrAuc), in extra columns after the existing ones.
#ifndef IAK_WORKER_EVALUATOR_H_
#define IAK_WORKER_EVALUATOR_H_

#include <limits>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/split.h"
#include "model/base_model.h"
#include "model/embedding_pooling.h"
#include "model/iak_module.h"
#include "proto/job_spec.pb.h"
#include "worker/job_data.h"

namespace iak::worker {

struct DomainResult {
  std::string domain;
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  double positive_rate = 0;
  // NaN, with auc_defined false, when the split holds a single class (all
  // clicks or none): AUC is undefined there, the table says "n/a" and the
  // JSON null, and the means leave the domain out.
  double base_auc = 0;
  double iak_auc = 0;
  bool auc_defined = true;
  std::string auc_note;  // why AUC is n/a, e.g. "n/a: all 812 test labels are 0"
  double base_logloss = 0;
  double iak_logloss = 0;
  // CTCVR-AUC of the base and of the tuned model, when EvalReport::has_ctcvr;
  // NaN otherwise, and for a domain whose split holds no conversion (or
  // nothing else), where it is undefined.
  double base_ctcvr_auc = std::numeric_limits<double>::quiet_NaN();
  double iak_ctcvr_auc = std::numeric_limits<double>::quiet_NaN();
  // How the domain is served under the job's domain plan (docs/job_spec.md,
  // "Domain plan"): empty for its own adapter, else e.g. "shared adapter
  // shared:a+b" or "base model (cold: 37 training samples < 200)"; then the
  // iak_* figures are those of the shared adapter or of the base.
  std::string adapter_note;
};

// How tables and reports head a method's columns: "IAK" for iak (or
// unset), else the method's name ("dense AUC", "plain LL").
std::string MethodLabel(const std::string& method);

struct EvalReport {
  std::string split;  // "test" or "validation"
  // The job's method (JobSpec.method): the tuned columns (iak_*) hold its
  // model's figures (EvaluateJob, below).
  std::string method = "iak";
  std::vector<DomainResult> domains;
  // Over the domains with a defined AUC (NaN when there is none).
  double mean_base_auc = 0;
  double mean_iak_auc = 0;
  // The base has two tasks and the data conversion labels: the CTCVR-AUC
  // columns are filled. Their means are over the domains where it is
  // defined (NaN when none is).
  bool has_ctcvr = false;
  double mean_base_ctcvr_auc = std::numeric_limits<double>::quiet_NaN();
  double mean_iak_ctcvr_auc = std::numeric_limits<double>::quiet_NaN();
  int domains_without_auc = 0;

  // A fixed-width table, one row per domain and a mean row; with has_ctcvr
  // two CTCVR-AUC columns and their gain after the log-loss columns.
  std::string ToTable() const;
  // With has_ctcvr, "base_ctcvr_auc"/"iak_ctcvr_auc" per domain (null where
  // undefined) and "mean_base_ctcvr_auc"/"mean_iak_ctcvr_auc".
  std::string ToJson() const;

  // Sets the mean CTCVR-AUCs from the domains' (the evaluators call it).
  void ComputeCtcvrMeans();
};

// Fills `result`'s CTCVR-AUCs from the scores pCTCVR of the base and of the
// tuned model on the same samples and their labels; leaves NaN where the AUC
// is undefined (one class only). InvalidArgument on length mismatches.
[[nodiscard]] Status SetCtcvrAucs(const std::vector<float>& base_ctcvr,
                                  const std::vector<float>& tuned_ctcvr,
                                  const std::vector<float>& click,
                                  const std::vector<float>& conversion, DomainResult* result);
// Sets result->base_auc/iak_auc from the scores of one domain's split, or,
// when the labels hold a single class, marks the AUC n/a (NaN) with a note
// instead of failing: one such domain must not cost the others their scores.
void SetDomainAuc(const float* base_scores, const float* tuned_scores, const float* labels,
                  size_t n, const std::string& split, DomainResult* result);

// Fills report->mean_* and domains_without_auc from report->domains.
void SetMeanAuc(EvalReport* report);

struct JobModels;  // worker/domain_predictor.h

// Scores `job`'s fine-tuned domains on `part` with `models`, exactly as `iak
// predict` serves them (LoadJobModels, DomainPredictor, PredictSamples):
// the frozen base against each domain's tuned model, new-key rows and key
// biases included; each domain's JobModels::notes go into its
// DomainResult::adapter_note. `models` holds an entry (maybe null) for every
// domain of job.dataset. `method` heads the report's tuned columns.
[[nodiscard]] StatusOr<EvalReport> EvaluateModels(const JobData& job, const JobModels& models,
                                                  const std::string& method,
                                                  data::SplitPart part = data::SplitPart::kTest);

// Loads what a finished job of any method (JobSpec.method) left: its data,
// model directory and tuned units (LoadJobModels: adapters under
// <output_dir>/adapters as its domain plan serves them, or dense-family
// models under <output_dir>/models and, for full, the trained snapshot), and
// evaluates them on `part` with EvaluateModels.
[[nodiscard]] StatusOr<EvalReport> EvaluateJob(const proto::JobSpec& spec,
                                               data::SplitPart part = data::SplitPart::kTest);

}  // namespace iak::worker

#endif  // IAK_WORKER_EVALUATOR_H_
