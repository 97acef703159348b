// Validation while training (JobSpec.validation, docs/job_spec.md): every
// every_n_steps global steps the workers score each training unit's
// validation split together - each its share, the scores combined over the
// group so that every rank computes the same AUC - and each unit's record
// keeps its best parameters; a unit that has not improved for `patience`
// evaluations stops training (the others go on). The first evaluation, before
// any step, is the frozen base's: a unit that never beats it ends with the
// base (its initial parameters), "kept base".
//
// Thread-safety: functions; the model and record are the caller's.
#ifndef IAK_WORKER_VALIDATION_H_
#define IAK_WORKER_VALIDATION_H_

#include <cstdint>

#include "collective/communicator.h"
#include "common/clock.h"
#include "common/status.h"
#include "data/dataset.h"
#include "proto/checkpoint.pb.h"
#include "proto/job_spec.pb.h"
#include "worker/domain_model.h"

namespace iak::worker {

struct ValidationOptions {
  bool enabled = true;
  int every_n_steps = 50;
  int patience = 4;  // -1: never stop early
  double min_delta = 0;
};
ValidationOptions ValidationOptionsFor(const proto::JobSpec& spec);

// `model`'s CTR-AUC and log loss on `ids`, each of the group's ranks scoring
// the ids at positions rank, rank + size, ... and the scores summed over the
// group (identical on every rank). AUC is NaN when the ids hold one class.
[[nodiscard]] StatusOr<proto::ValidationPoint> EvaluateShared(
    DomainModel* model, const data::Dataset& data, const data::SampleIds& ids,
    collective::Communicator* group, Deadline deadline);

// Adds `point` to the unit's record. The first point is the base's (it also
// sets the base figures); a point better than the best by more than
// min_delta becomes the best (its parameters copied from `model`, whose
// MarkBest() is called); otherwise the patience count grows and may stop
// the unit. A NaN AUC (one class) never selects nor stops.
[[nodiscard]] Status RecordPoint(const ValidationOptions& options, const proto::ValidationPoint& point,
                                 DomainModel* model, proto::UnitValidation* record);

// Whether the record selects anything: its base evaluation had an AUC.
bool SelectsBest(const proto::UnitValidation& record);
// Whether the unit ends with the base: validation never beat it.
bool KeptBase(const proto::UnitValidation& record);

}  // namespace iak::worker

#endif  // IAK_WORKER_VALIDATION_H_
