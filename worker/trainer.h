// Trainer: the one training loop. Everything that fine-tunes runs through
// it: static cluster workers (MPI or in-process groups, phases at scheduler
// barriers), elastic workers (a group per membership epoch), single-process
// runs (`iak compare`, tests). What differs between them is passed in:
//   Membership   who trains together and where the job stands (membership.h);
//   RowAccess    where embedding rows come from (row_access.h);
//   DomainModel  the method: iak, plain, frozen, dense, lora, full
//                (domain_model.h, made by model_factory.h from the spec);
//   AdapterStepEngine  the device an adapter's step runs on (CPU or CUDA).
//
// Outline of Run():
//   resume from the latest checkpoint (checkpoint.resume) ->
//   for each segment the membership hands out:
//     (first) connect the rows, build the models, evaluate the base ->
//     (elastic) roll back / receive the state ->
//     for each step: next batch -> gradients -> average over the group ->
//       optimizer step -> progress;
//     every validation.every_n_steps: validate, keep each unit's best,
//       stop units that stopped improving;
//     checkpoint when due ->
//   at the end: each unit's best parameters, written by rank 0.
//
// Training units: one per fine-tuned domain, or per the domain plan (cold
// domains on one shared adapter, or left to the base). Step g trains unit
// active[g mod |active|], where active lists the units still training, the
// same on every rank. Each unit's data comes from its GlobalCursor: the
// group's members take consecutive slices of one global order, so the data
// a step sees does not depend on how many workers there are.
//
// Thread-safety: Run() on one thread; the counters are atomics.
#ifndef IAK_WORKER_TRAINER_H_
#define IAK_WORKER_TRAINER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/global_cursor.h"
#include "model/adapter_step_engine.h"
#include "proto/checkpoint.pb.h"
#include "proto/job_spec.pb.h"
#include "proto/wire.pb.h"
#include "worker/checkpoint.h"
#include "worker/domain_model.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/membership.h"
#include "worker/row_access.h"
#include "worker/training_setup.h"
#include "worker/validation.h"

namespace iak::worker {

// One completed step, for tests' instrumentation.
struct StepRecord {
  int64_t global_step = 0;  // 0-based, counted over the whole job
  int unit = 0;             // index into units()
  int64_t data_epoch = 0;  // of the unit's global order
  size_t num_ids = 0;      // the unit's training ids
  float loss = 0;          // this rank's mean training loss of the step
  std::vector<uint32_t> ids;  // what this rank trained
};

struct TrainerOptions {
  proto::JobSpec spec;  // defaults applied, validated
  std::string name = "trainer";
  int compute_threads = 2;  // threads of the CPU step
  int progress_every = 50;  // a progress line every N steps (rank 0); 0 = never
  bool write_results = true;  // rank 0 writes each unit's result at the end
  bool write_checkpoints = true;  // rank 0 writes checkpoints (JobSpec.checkpoint)
  std::function<void(const StepRecord&)> on_step_done;  // tests; may be empty
};

// Where the trainer publishes each unit's validation record after every
// evaluation (heartbeats, /metrics). Thread-safe.
class ValidationBoard {
 public:
  void Publish(std::vector<proto::UnitValidation> records) {
    std::lock_guard<std::mutex> lock(mu_);
    records_ = std::move(records);
  }
  std::vector<proto::UnitValidation> Read() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<proto::UnitValidation> records_;  // guarded by mu_
};

// Where the trainer reports progress (a worker's heartbeat counters); any
// may be null.
struct TrainerCounters {
  std::atomic<int64_t>* steps_done = nullptr;
  std::atomic<int64_t>* samples_done = nullptr;
  std::atomic<double>* last_loss = nullptr;
  ValidationBoard* validation = nullptr;
};

// A unit after Run.
struct TrainedUnit {
  std::string name;          // the domain, or "shared:<d1>+<d2>..."
  std::vector<int> domains;  // indices into job.finetune_domains
  int batch_size = 0;
  double lr_scale = 1;
  int64_t steps = 0;          // steps it trained (whole group)
  int64_t samples = 0;        // samples this rank trained
  proto::UnitValidation validation;
};

class Trainer {
 public:
  // `inputs`, `membership` and `rows` must outlive the trainer.
  Trainer(TrainerOptions options, const TrainingInputs* inputs, Membership* membership,
          RowAccess* rows, TrainerCounters counters = {});
  ~Trainer();

  // Trains until the membership says finish (then rank 0 writes the results)
  // or leave. Errors: the first that ended the job.
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  // After Run.
  const std::vector<TrainedUnit>& units() const { return units_; }
  DomainModel* model(int unit) { return models_[static_cast<size_t>(unit)].get(); }
  const JobDomainPlan& plan() const { return plan_; }
  int64_t final_global_step() const { return position_.global_step(); }
  bool left() const { return left_; }
  // The checkpoint Run resumed from ("" = started fresh) and its global
  // step (-1 = started fresh).
  const std::string& resumed_from() const { return resumed_from_; }
  int64_t resumed_global_step() const { return resumed_ ? resumed_global_step_ : -1; }

 private:
  Status Setup();
  Status Resume();
  Status PrepareFirstSegment(const Segment& segment);
  Status TrainSegment(const Segment& segment, const std::atomic<bool>& stop,
                      SegmentReport* report);
  Status TrainChunk(const Segment& segment, int64_t steps, const std::atomic<bool>& stop,
                    int64_t* done);
  // Adds a step to the progress window; logs and publishes the window's
  // loss every progress_every steps of a phase and at its end.
  void RecordProgress(const proto::PhaseCommand& command, int64_t phase_step,
                      int64_t global_step, float loss, int samples, int rank);
  Status Validate(const Segment& segment);
  Status MaybeCheckpoint(int64_t membership_epoch);
  Status Finish(const Segment& segment);
  std::vector<int> ActiveUnits() const;
  // The state rolled back to, or sent to joiners.
  std::string SaveState() const;
  Status LoadState(const std::string& bytes);
  Status ExchangeState(const Segment& segment);
  void AdvancePosition(int64_t steps, const proto::PhaseCommand& command);
  PhaseSettings SettingsFor(const proto::PhaseCommand& command, int unit,
                            int group_size) const;

  TrainerOptions options_;
  const TrainingInputs* inputs_;
  Membership* membership_;
  RowAccess* rows_;
  TrainerCounters counters_;
  ValidationOptions validation_;
  JobDomainPlan plan_;
  std::vector<TrainedUnit> units_;
  std::vector<std::unique_ptr<DomainModel>> models_;
  std::vector<data::GlobalCursor> cursors_;       // per unit
  std::vector<data::SampleIds> validation_ids_;  // per unit
  std::unique_ptr<model::AdapterStepEngine> engine_;
  std::unique_ptr<FrozenPrefixCache> cache_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::unique_ptr<LoadedCheckpoint> pending_restore_;  // applied once the models exist
  proto::JobPosition position_;
  int64_t last_checkpoint_step_ = -1;
  int64_t last_validation_step_ = -1;
  bool resumed_ = false;
  int64_t resumed_global_step_ = -1;
  bool prepared_ = false;
  bool left_ = false;
  bool collective_failed_ = false;  // the last error came from the group
  std::string resumed_from_;
  std::string sync_state_;  // the state at the last segment start
  // Progress window.
  double window_loss_ = 0;
  int window_steps_ = 0;
  int64_t window_samples_ = 0;
  std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
};

}  // namespace iak::worker

#endif  // IAK_WORKER_TRAINER_H_
