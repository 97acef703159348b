// ParamRange: a half-open slice [begin, end) of a flat parameter vector.
//
// Modules keep all their parameters in one contiguous float vector (and the
// gradients in a second one with the same layout) so that a whole module is
// all-reduced, checkpointed and stepped as a single span. A ParamRange names
// the part that belongs to one sub-module, e.g. the IAK encoder, so that the
// trainer can freeze it.
#ifndef IAK_MODEL_PARAM_RANGE_H_
#define IAK_MODEL_PARAM_RANGE_H_

#include <cstddef>

namespace iak::model {

struct ParamRange {
  size_t begin = 0;  // index of the first parameter
  size_t end = 0;    // one past the last

  size_t size() const { return end - begin; }
};

}  // namespace iak::model

#endif  // IAK_MODEL_PARAM_RANGE_H_
