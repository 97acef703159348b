// Evaluation of a finished cluster job of any method (JobSpec.method): per
// fine-tuned domain, the AUC of the frozen base model and of the method's
// model on a held-out split, in the Evaluator's report (its "iak_auc" column
// holds the method's AUC, and the table is headed with the method's name).
//
//   iak, plain  the adapters under <output_dir>/adapters (EvaluateJob);
//   frozen      the base model (both columns are the same);
//   dense, lora <output_dir>/models/<domain>.dense over the frozen rows;
//   full        <output_dir>/models/<domain>.dense over the rows of the
//               snapshot the trainable servers wrote
//               (trainable.output_model_dir, default <output_dir>/trained-model).
#ifndef IAK_WORKER_METHOD_EVALUATOR_H_
#define IAK_WORKER_METHOD_EVALUATOR_H_

#include <memory>
#include <string>

#include "common/status.h"
#include "data/split.h"
#include "embedding/model_directory.h"
#include "proto/job_spec.pb.h"
#include "worker/evaluator.h"

namespace iak::worker {

// Where a "full" job's trained snapshot is.
std::string TrainedModelDir(const proto::JobSpec& spec);

// That snapshot's table, opened for reading (the rows a full job's models
// score with); the snapshot's errors, saying whose snapshot it is.
[[nodiscard]] StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> OpenTrainedTable(
    const proto::JobSpec& spec);

// Any method; "iak"/"plain" go to EvaluateJob.
[[nodiscard]] StatusOr<EvalReport> EvaluateMethodJob(const proto::JobSpec& spec,
                                                     data::SplitPart part = data::SplitPart::kTest);

}  // namespace iak::worker

#endif  // IAK_WORKER_METHOD_EVALUATOR_H_
