#include "ps/trainable_options.h"

#include <cmath>

namespace iak::ps {

StatusOr<RowOptimizerOptions> RowOptimizerOptionsFor(const proto::TrainableSpec& spec) {
  RowOptimizerOptions options;
  IAK_ASSIGN_OR_RETURN(options.kind, ParseRowOptimizer(spec.optimizer()));
  if (spec.learning_rate() != 0) options.learning_rate = spec.learning_rate();
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    return InvalidArgumentError("the trainable PS learning rate must be positive, got " +
                                std::to_string(options.learning_rate));
  }
  if (!(spec.init_scale() >= 0) || !std::isfinite(spec.init_scale())) {
    return InvalidArgumentError("trainable.init_scale must be >= 0 and finite, got " +
                                std::to_string(spec.init_scale()));
  }
  options.init_scale = spec.init_scale();
  options.init_seed = spec.init_seed();
  return options;
}

StatusOr<TrainableOptions> ResolveTrainableOptions(const proto::JobSpec* spec,
                                                   const TrainableOverrides& overrides) {
  TrainableOptions trainable;
  const bool in_spec = spec != nullptr && spec->has_trainable();
  trainable.enabled = in_spec || !overrides.optimizer.empty();
  if (!trainable.enabled) return trainable;
  const proto::TrainableSpec from_spec = in_spec ? spec->trainable() : proto::TrainableSpec();
  proto::TrainableSpec resolved = from_spec;
  if (!overrides.optimizer.empty()) resolved.set_optimizer(overrides.optimizer);
  if (overrides.learning_rate != 0) {
    resolved.set_learning_rate(static_cast<float>(overrides.learning_rate));
  }
  IAK_ASSIGN_OR_RETURN(trainable.optimizer, RowOptimizerOptionsFor(resolved));
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
