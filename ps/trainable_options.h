// How a parameter server's trainable mode follows from a job spec and the
// `iak ps` flags (docs/trainable_ps.md), in one place for the CLI and tests.
#ifndef IAK_PS_TRAINABLE_OPTIONS_H_
#define IAK_PS_TRAINABLE_OPTIONS_H_

#include <string>

#include "common/status.h"
#include "proto/job_spec.pb.h"
#include "ps/ps_server.h"

namespace iak::ps {

// Command-line overrides; empty / 0 = not given.
struct TrainableOverrides {
  std::string optimizer;
  double learning_rate = 0;
  std::string output_model_dir;
};

// The row optimizer a `trainable` block asks for (optimizer, learning rate
// with its default 0.02, init_scale and init_seed), for the servers and the
// local overlay alike. InvalidArgument: an unknown optimizer, a learning rate
// or init_scale that is negative or not finite.
[[nodiscard]] StatusOr<RowOptimizerOptions> RowOptimizerOptionsFor(
    const proto::TrainableSpec& spec);

// Trainable when the spec (may be null) has a `trainable` block or the
// overrides name an optimizer; frozen (enabled = false) otherwise. Overrides
// win over the spec; the learning rate defaults to 0.02; the output to the
// spec's trainable.output_model_dir, else <output_dir>/trained-model.
// InvalidArgument: an unknown optimizer, a learning rate that is not positive
// and finite, no output directory at all, or replicas_per_shard > 1 (pushes
// are neither replicated nor failed over).
[[nodiscard]] StatusOr<TrainableOptions> ResolveTrainableOptions(
    const proto::JobSpec* spec, const TrainableOverrides& overrides);

}  // namespace iak::ps

#endif  // IAK_PS_TRAINABLE_OPTIONS_H_
