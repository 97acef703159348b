// MethodReport: the method comparison's results (`iak compare`,
// docs/results.md): per method and domain the validation and test AUCs and
// the cost, with summaries and markdown / JSON renderings.
#ifndef IAK_COMPARE_METHOD_REPORT_H_
#define IAK_COMPARE_METHOD_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::compare {

struct MethodDomainResult {
  std::string method;
  std::string domain;
  int64_t train_samples = 0;
  int64_t validation_samples = 0;
  int64_t test_samples = 0;
  double validation_auc = 0;  // at the point validation chose (NaN: one class only)
  double test_auc = 0;        // CTR-AUC of the model validation chose
  double test_ctcvr_auc = 0;  // NaN when the data has no conversions
  int64_t best_step = 0;      // global step validation chose; 0 = the base (or untrained)
  bool kept_base = false;     // validation never beat the frozen base: the base is kept
  bool stopped_early = false; // validation stopped the domain before the plan's end
  double seconds_per_epoch = 0;
  int64_t trainable_params = 0;
  // What a checkpoint would hold: trained values + optimizer state.
  int64_t checkpoint_bytes = 0;
  // Computed per epoch (see the header comment): rows pulled, gradient rows
  // pushed (full FT), ring all-reduce of dense/adapter gradients.
  int64_t pull_bytes = 0;
  int64_t push_bytes = 0;
  int64_t allreduce_bytes = 0;
  int64_t network_bytes() const { return pull_bytes + push_bytes + allreduce_bytes; }
  int batch_size = 0;  // 0: not trained
  double lr = 0;       // the method's main learning rate on this domain
  std::string mode = "own";  // own / shared / base (DomainModeName)
  std::string plan_note;     // the DomainPlan's reason, for adapters
  // The test split's CTR scores and click labels, in split order (the
  // paired bootstrap of compare/seed_report.h; not in the JSON).
  std::vector<float> test_scores;
  std::vector<float> test_labels;
};

struct MethodSummary {
  std::string method;
  double mean_validation_auc = 0;
  double mean_test_auc = 0;
  double mean_test_ctcvr_auc = 0;  // NaN when no conversions
  double seconds_per_epoch = 0;    // summed over domains
  int64_t network_bytes = 0;       // per epoch, summed over domains (computed)
  int64_t trainable_params = 0;    // summed over domains
  int64_t checkpoint_bytes = 0;    // summed over domains
  int domains_above_frozen = 0;    // test AUC strictly above the frozen base
};

struct MethodReport {
  std::vector<MethodDomainResult> results;  // method-major, domain order
  bool has_ctcvr = false;
  int network_workers = 2;
  std::vector<MethodSummary> Summaries() const;
  // Markdown tables: per-domain test AUC, summary (mean AUC and cost).
  std::string ToMarkdown() const;
  std::string ToJson() const;
};



}  // namespace iak::compare

#endif  // IAK_COMPARE_METHOD_REPORT_H_
