// KeyDropout: pre-training's key dropout (JobSpec.pretrain.key_dropout):
// with probability `rate`, each named field of each training sample is
// replaced by the zero "unknown" row: its pooled slice of x is zeroed and its
// keys get no gradient from that sample. Serving reads zero rows for keys a
// snapshot lacks (users new in a later period); this shows the base such
// inputs while it trains. A multi-valued field is dropped as a whole.
//
// Whether field f of sample s is dropped at global step g is a pure function
// of (seed, g, s, f) (a counter-based hash), so it does not depend on which
// worker trains the sample or how many there are.
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_KEY_DROPOUT_H_
#define IAK_WORKER_KEY_DROPOUT_H_

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "proto/job_spec.pb.h"

namespace iak::worker {

class KeyDropout {
 public:
  KeyDropout() = default;  // off
  // The dropout `spec` asks for on `data`'s fields, rows of `dim` (names in
  // spec.key_dropout_fields, default user and movie; fields the data lacks
  // are ignored). InvalidArgument unless 0 <= key_dropout < 1.
  [[nodiscard]] static StatusOr<KeyDropout> For(const proto::PretrainSpec& spec,
                                                const data::Dataset& data, int dim,
                                                uint64_t seed);

  bool enabled() const { return rate_ > 0.0f && !fields_.empty(); }
  // Draws which fields of samples ids[0..n) are dropped at global step `step`.
  void Draw(int64_t step, const uint32_t* ids, int n);
  // Zeroes the drawn fields' slices of a [n x num_fields*dim] batch (x before
  // the forward pass, dx before the row gradients are collected).
  void Apply(float* rows, int n) const;

 private:
  float rate_ = 0.0f;
  uint64_t seed_ = 0;
  int num_fields_ = 0;
  int dim_ = 0;
  std::vector<int> fields_;
  std::vector<char> dropped_;  // [n x num_fields]
};

}  // namespace iak::worker

#endif  // IAK_WORKER_KEY_DROPOUT_H_
