#include "ps/trainable_options.h"

#include <cmath>

namespace iak::ps {

StatusOr<TrainableOptions> ResolveTrainableOptions(const proto::JobSpec* spec,
                                                   const TrainableOverrides& overrides) {
  TrainableOptions trainable;
  const bool in_spec = spec != nullptr && spec->has_trainable();
  trainable.enabled = in_spec || !overrides.optimizer.empty();
  if (!trainable.enabled) return trainable;
  const proto::TrainableSpec from_spec = in_spec ? spec->trainable() : proto::TrainableSpec();
  const std::string name = overrides.optimizer.empty() ? from_spec.optimizer() : overrides.optimizer;
  IAK_ASSIGN_OR_RETURN(trainable.optimizer.kind, ParseRowOptimizer(name));
  const double lr = overrides.learning_rate != 0 ? overrides.learning_rate
                    : from_spec.learning_rate() != 0 ? from_spec.learning_rate()
                                                     : 0.02;
  if (!(lr > 0) || !std::isfinite(lr)) {
    return InvalidArgumentError("the trainable PS learning rate must be positive, got " +
                                std::to_string(lr));
  }
  trainable.optimizer.learning_rate = static_cast<float>(lr);
  trainable.output_model_dir = overrides.output_model_dir;
  if (trainable.output_model_dir.empty()) trainable.output_model_dir = from_spec.output_model_dir();
  if (trainable.output_model_dir.empty() && spec != nullptr && !spec->output_dir().empty()) {
    trainable.output_model_dir = spec->output_dir() + "/trained-model";
  }
  if (trainable.output_model_dir.empty()) {
    return InvalidArgumentError(
        "a trainable server needs somewhere to write the trained snapshot: give "
        "--trainable_output=DIR (or trainable { output_model_dir: ... } / output_dir in the job "
        "spec)");
  }
  if (spec != nullptr && spec->replicas_per_shard() > 1) {
    return InvalidArgumentError(
        "job " + spec->name() + ": trainable parameter servers take exactly one server per "
        "shard, but replicas_per_shard is " + std::to_string(spec->replicas_per_shard()) +
        " (pushes are neither replicated nor failed over); set replicas_per_shard: 1");
  }
  return trainable;
}

}  // namespace iak::ps
