#include "worker/local_training.h"

namespace iak::worker {

LocalTraining::LocalTraining(const proto::JobSpec& spec, const TrainingInputs* inputs,
                             const model::RowLookup* table, LocalTrainingOptions options)
    : spec_(spec),
      membership_(&spec_),
      rows_(spec_, table, inputs->base->config().embedding_dim) {
  TrainerOptions trainer_options;
  trainer_options.spec = spec_;
  trainer_options.name = "local";
  trainer_options.compute_threads = options.compute_threads;
  trainer_options.progress_every = options.progress_every;
  trainer_options.write_results = options.write_results;
  trainer_options.write_checkpoints = options.write_results;
  trainer_options.on_step_done = std::move(options.on_step_done);
  trainer_ = std::make_unique<Trainer>(std::move(trainer_options), inputs, &membership_, &rows_);
}

Status LocalTraining::Run(const std::atomic<bool>& stop) { return trainer_->Run(stop); }

}  // namespace iak::worker
