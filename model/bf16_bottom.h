// Bf16Bottom: the frozen bottom MLP's forward in bf16 on the CPU's bf16
// units (AVX-512 BF16, or AMX where the kernel exposes it), through oneDNN's
// matmul: weights converted to bf16 once, each block's x converted to bf16,
// every layer a bf16 x bf16 matmul accumulating in fp32 with bias and ReLU
// fused, hidden activations kept in bf16, h written in fp32. An option
// (JobSpec.frozen_precision = "bf16"); the adapter, the towers' gradients and
// everything trained stay fp32.
//
// Rows go through in blocks of exactly kBlockRows (ParallelFineTuneStep's
// kBottomBlock), so a row's h depends on its own x only, as the frozen-prefix
// cache requires.
//
// Built only with oneDNN (libdnnl-dev); Create() says FailedPrecondition without.
// Thread-safety: Forward() from up to `parts` threads at once, each with its
// own part index; the base model must not change while this lives.
#ifndef IAK_MODEL_BF16_BOTTOM_H_
#define IAK_MODEL_BF16_BOTTOM_H_

#include <memory>

#include "common/status.h"
#include "model/base_model.h"

namespace iak::model {

class Bf16Bottom {
 public:
  static constexpr int kBlockRows = 128;
  // Whether this build and this CPU can run it (oneDNN linked, a bf16 ISA).
  static bool Available();
  // FailedPrecondition without oneDNN or on a CPU without bf16.
  [[nodiscard]] static StatusOr<std::unique_ptr<Bf16Bottom>> Create(const BaseModel& base,
                                                                    int parts);
  virtual ~Bf16Bottom() = default;
  // h [kBlockRows x h_dim] (fp32) from x [kBlockRows x input_dim] (fp32),
  // on the calling thread; `part` in [0, parts) names its scratch.
  virtual void Forward(const float* x, float* h, int part) = 0;
  // The oneDNN implementation chosen for the first layer (e.g.
  // "brg:avx512_core_bf16"), for benchmark output.
  virtual const char* impl() const = 0;
  // The base model it was made from (its weights were copied then).
  virtual const BaseModel* base() const = 0;
};

}  // namespace iak::model

#endif  // IAK_MODEL_BF16_BOTTOM_H_
