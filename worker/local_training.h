// LocalTraining: a job's training in this process, with no scheduler and no
// servers: the Trainer with LocalMembership (the spec's phases, a group of
// one) and LocalRowAccess (the model directory's table opened here). With
// the same spec it trains exactly what a one-worker cluster job trains
// (`iak compare` relies on it; tests check it bit for bit).
#ifndef IAK_WORKER_LOCAL_TRAINING_H_
#define IAK_WORKER_LOCAL_TRAINING_H_

#include <atomic>
#include <functional>
#include <memory>

#include "common/status.h"
#include "model/embedding_pooling.h"
#include "proto/job_spec.pb.h"
#include "worker/local_membership.h"
#include "worker/row_access.h"
#include "worker/trainer.h"
#include "worker/training_setup.h"

namespace iak::worker {

struct LocalTrainingOptions {
  int compute_threads = 2;
  int progress_every = 0;      // progress lines; 0 = none
  // The models, validation.json and checkpoints under output_dir.
  bool write_results = false;
  std::function<void(const StepRecord&)> on_step_done;  // may be empty
};

// One local run; keeps the trainer (and its models) for the caller.
class LocalTraining {
 public:
  // `inputs` and `table` (the frozen rows, dim floats each) must outlive it.
  LocalTraining(const proto::JobSpec& spec, const TrainingInputs* inputs,
                const model::RowLookup* table, LocalTrainingOptions options = {});
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);
  Trainer& trainer() { return *trainer_; }
  LocalRowAccess& rows() { return rows_; }

 private:
  proto::JobSpec spec_;
  LocalMembership membership_;
  LocalRowAccess rows_;
  std::unique_ptr<Trainer> trainer_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_LOCAL_TRAINING_H_
