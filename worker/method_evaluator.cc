#include "worker/method_evaluator.h"

#include <memory>

#include "embedding/model_directory.h"
#include "model/fine_tune_step.h"
#include "model/metrics.h"
#include "worker/local_lookup.h"
#include "worker/training_setup.h"
#include "worker/dense_models.h"
#include "worker/model_factory.h"

namespace iak::worker {
namespace {

constexpr int kEvalBatch = 1024;

// pCTR of `model` on `ids`; with `p_ctcvr` (a two-task model) pCTCVR too.
std::vector<float> Score(const data::Dataset& dataset, const data::SampleIds& ids,
                         const model::BaseModel& model, const model::RowLookup& rows,
                         std::vector<float>* p_ctcvr = nullptr) {
  model::FineTuneStep step;
  std::vector<float> scores(ids.size());
  if (p_ctcvr != nullptr) p_ctcvr->assign(ids.size(), 0.0f);
  std::vector<float> x;
  for (size_t begin = 0; begin < ids.size(); begin += kEvalBatch) {
    const int n = static_cast<int>(std::min<size_t>(kEvalBatch, ids.size() - begin));
    x.resize(static_cast<size_t>(n) * model.config().input_dim());
    model::PoolBatch(dataset, ids.data() + begin, n, model.config().embedding_dim, rows,
                     x.data());
    step.Predict(model, nullptr, x.data(), n, scores.data() + begin,
                 p_ctcvr != nullptr ? p_ctcvr->data() + begin : nullptr);
  }
  return scores;
}

}  // namespace

std::string TrainedModelDir(const proto::JobSpec& spec) {
  return spec.trainable().output_model_dir().empty() ? spec.output_dir() + "/trained-model"
                                                     : spec.trainable().output_model_dir();
}

StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> OpenTrainedTable(
    const proto::JobSpec& spec) {
  StatusOr<embedding::ModelDirectory> trained =
      embedding::LoadModelDirectory(TrainedModelDir(spec));
  if (!trained.ok()) {
    return trained.status().WithContext(
        "method full: the trained snapshot the parameter servers write at the end");
  }
  return embedding::LocalEmbeddingTable::Open(*trained);
}

StatusOr<EvalReport> EvaluateMethodJob(const proto::JobSpec& spec, data::SplitPart part) {
  const std::string method = spec.method().empty() ? "iak" : spec.method();
  if (IsAdapterMethod(method)) return EvaluateJob(spec, part);
  IAK_RETURN_IF_ERROR(CheckMethod(method).WithContext("cannot evaluate"));
  IAK_ASSIGN_OR_RETURN(LocalInputs local, LoadLocalInputs(spec.data(), spec.model_dir()));
  const JobData& job = local.inputs.job;
  const model::BaseModel& base = *local.inputs.base;
  LocalLookup frozen_rows(local.table.get());
  // Full fine-tuning scores with the rows its servers trained.
  std::unique_ptr<embedding::LocalEmbeddingTable> trained_table;
  const model::RowLookup* tuned_rows = &frozen_rows;
  std::unique_ptr<LocalLookup> trained_rows;
  if (method == "full") {
    IAK_ASSIGN_OR_RETURN(trained_table, OpenTrainedTable(spec));
    trained_rows = std::make_unique<LocalLookup>(trained_table.get());
    tuned_rows = trained_rows.get();
  }

  EvalReport report;
  report.method = method;
  report.split = part == data::SplitPart::kTest ? "test" : "validation";
  report.has_ctcvr = base.config().num_tasks == 2 && job.dataset.has_conversion();
  for (int domain : job.finetune_domains) {
    const data::DomainSplit& split = job.splits[domain];
    const data::SampleIds& ids = part == data::SplitPart::kTest ? split.test : split.validation;
    DomainResult result;
    result.domain = job.dataset.domain_names[domain];
    result.train_samples = static_cast<int64_t>(split.train.size());
    result.test_samples = static_cast<int64_t>(ids.size());
    std::vector<float> labels(ids.size());
    std::vector<float> conversion(report.has_ctcvr ? ids.size() : 0);
    double positives = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      labels[i] = job.dataset.click[ids[i]];
      positives += labels[i];
      if (report.has_ctcvr) conversion[i] = job.dataset.conversion[ids[i]];
    }
    result.positive_rate = ids.empty() ? 0 : positives / ids.size();
    std::vector<float> base_ctcvr, tuned_ctcvr;
    const std::vector<float> base_scores =
        Score(job.dataset, ids, base, frozen_rows, report.has_ctcvr ? &base_ctcvr : nullptr);
    std::vector<float> tuned_scores = base_scores;
    tuned_ctcvr = base_ctcvr;
    if (method != "frozen") {
      IAK_ASSIGN_OR_RETURN(model::BaseModel tuned,
                           LoadMethodModel(spec.output_dir(), result.domain));
      // A tuned model keeps the base's towers (and task count).
      const bool tuned_ctcvr_too = report.has_ctcvr && tuned.config().num_tasks == 2;
      tuned_scores = Score(job.dataset, ids, tuned, *tuned_rows,
                           tuned_ctcvr_too ? &tuned_ctcvr : nullptr);
      if (report.has_ctcvr && !tuned_ctcvr_too) {
        return FailedPreconditionError("domain " + result.domain + ": the " + method +
                                       " model has one task, its two-task base two");
      }
    }
    if (report.has_ctcvr) {
      IAK_RETURN_IF_ERROR(SetCtcvrAucs(base_ctcvr, tuned_ctcvr, labels, conversion, &result)
                              .WithContext("domain " + result.domain));
    }
    SetDomainAuc(base_scores.data(), tuned_scores.data(), labels.data(), ids.size(),
                 report.split, &result);
    result.base_logloss = model::LogLoss(base_scores.data(), labels.data(), ids.size());
    result.iak_logloss = model::LogLoss(tuned_scores.data(), labels.data(), ids.size());
    report.domains.push_back(result);
  }
  SetMeanAuc(&report);
  report.ComputeCtcvrMeans();
  return report;
}

}  // namespace iak::worker
