// CudaFineTuneStep: model::FineTuneStep::Run on one GPU.
//
// The same step, operation for operation (see model/fine_tune_step.h):
//   h = frozen bottom(x) -> IAK encoder -> z = mu + sigma * eps, KL
//   -> decoder -> h' = h + delta -> frozen towers -> BCE / ESMM loss
//   -> dh' through the towers (input gradient only) -> IAK backward with
//   beta * KL (encoder gradients only in kCompression).
// Matrix products run on cuBLAS (FP32, no TF32, so results match the CPU
// to float rounding); bias + ReLU, reparameterisation, KL, the loss and its
// gradient, and embedding pooling are CUDA kernels.
//
// Data flow. The frozen base parameters are uploaded once, at Create(). Each
// step uploads the IAK parameters, labels and eps (a few hundred KB) and x
// through page-locked staging buffers with asynchronous copies, and copies
// the IAK gradients back into iak->mutable_grads() for the all-reduce and
// the optimizer on the host. Pool() builds x on the device instead: the
// batch's distinct rows are staged in pinned memory, copied asynchronously,
// and gathered + pooled (sum or mean per field) by a kernel. All device and
// pinned buffers are allocated at Create() for max_batch and reused; only
// pooling with more key occurrences than ever before grows its staging.
//
// eps is an input, so a GPU step can be compared with a CPU step bit for
// bit in its randomness: Run() draws it from the rng exactly as
// model::IakModule does (DrawReparamNoise), RunWithEps() takes it given.
//
// Errors: CUDA/cuBLAS failures (no device, out of memory) and bad arguments
// (batch above max_batch, an IAK config other than the one given to
// Create) come back as Status; nothing crashes on them.
//
// Thread-safety: one thread drives a step; it owns one CUDA stream and one
// cuBLAS handle on its device. Steps on different threads are independent.
#ifndef IAK_CUDA_CUDA_FINE_TUNE_STEP_H_
#define IAK_CUDA_CUDA_FINE_TUNE_STEP_H_

#include <cstdint>
#include <memory>
#include <random>

#include "common/status.h"
#include "data/dataset.h"
#include "model/base_model.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"

namespace iak::cuda {

struct CudaStepOptions {
  int device = 0;         // CUDA device ordinal
  int max_batch = 1024;   // largest batch Run/Pool accept; sizes the buffers
};

// Fills eps[batch x k] from `rng` in the order and with the distribution
// model::IakModule::Forward uses (a fresh std::normal_distribution<float>
// per forward, row-major), so the same rng state gives the same eps.
void DrawReparamNoise(std::mt19937_64* rng, int batch, int k, float* eps);

class CudaFineTuneStep {
 public:
  // Uploads `base` (frozen from now on: later changes to it are not seen)
  // and allocates every buffer for options.max_batch and the module shape
  // `iak`. Unavailable when there is no usable device.
  static StatusOr<std::unique_ptr<CudaFineTuneStep>> Create(
      const model::BaseModel& base, const model::IakConfig& iak,
      const CudaStepOptions& options);
  ~CudaFineTuneStep();
  CudaFineTuneStep(const CudaFineTuneStep&) = delete;
  CudaFineTuneStep& operator=(const CudaFineTuneStep&) = delete;

  // model::FineTuneStep::Run with x [batch x input_dim] on the host; writes
  // iak->mutable_grads() (all of it: encoder gradients are zero in
  // kMatching) and advances rng as the CPU step does.
  StatusOr<model::StepStats> Run(model::IakModule* iak, model::IakPhase phase,
                                 float beta, const float* x, int batch,
                                 const float* click, const float* conversion,
                                 std::mt19937_64* rng);

  // The same with eps [batch x latent_dim] given (ignored for a plain
  // adapter, may then be null).
  StatusOr<model::StepStats> RunWithEps(model::IakModule* iak,
                                        model::IakPhase phase, float beta,
                                        const float* x, int batch,
                                        const float* click,
                                        const float* conversion,
                                        const float* eps);

  // Builds x on the device for samples sample_ids[0..batch) of `data`,
  // pooling rows.Find(key) like model::PoolBatch. `data`'s fields must
  // match the base model's num_fields; rows have embedding_dim floats.
  [[nodiscard]] Status Pool(const data::Dataset& data,
                            const uint32_t* sample_ids, int batch,
                            const model::RowLookup& rows);

  // The step on the x of the last Pool(); x == null in RunWithEps terms.
  StatusOr<model::StepStats> RunPooled(model::IakModule* iak,
                                       model::IakPhase phase, float beta,
                                       int batch, const float* click,
                                       const float* conversion,
                                       std::mt19937_64* rng);

  // Copies the device x of the last Pool() ([batch x input_dim]) to x.
  [[nodiscard]] Status DownloadX(int batch, float* x);

 private:
  class Impl;
  explicit CudaFineTuneStep(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iak::cuda

#endif  // IAK_CUDA_CUDA_FINE_TUNE_STEP_H_
