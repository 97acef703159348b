// What a finished training run writes next to its models, besides them:
//   <output_dir>/adapters/domain_plan.tsv  (adapter methods) how each domain
//       is served under the domain plan, with its steps and samples
//       (worker/adapter_plan_file.h);
//   <output_dir>/validation.json  each unit's validation record: the base's
//       and the best validation AUC, where the best was, whether it kept the
//       base or stopped early, and the curve (what reports plot).
#ifndef IAK_WORKER_TRAINING_RESULTS_H_
#define IAK_WORKER_TRAINING_RESULTS_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "proto/job_spec.pb.h"
#include "worker/trainer.h"

namespace iak::worker {

[[nodiscard]] Status WriteTrainingResults(const proto::JobSpec& spec, const JobDomainPlan& plan,
                                          const std::vector<TrainedUnit>& units);

// validation.json's text for `units`.
std::string ValidationJson(const std::vector<TrainedUnit>& units);

}  // namespace iak::worker

#endif  // IAK_WORKER_TRAINING_RESULTS_H_
