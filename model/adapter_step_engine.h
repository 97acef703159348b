// AdapterStepEngine: the device that runs one training step of an adapter on
// h (the frozen bottom's output), the seam between the training loop and the
// hardware. Two engines: CpuAdapterStepEngine (ParallelFineTuneStep, the
// batch split over the cores, BLAS) and the CUDA engine in cuda/ (cuBLAS and
// kernels, built when the toolkit is found). The loop picks one per job
// (launcher.gpus_per_worker > 0 selects the GPU).
//
// Both compute the same math (model/fine_tune_step.h): the frozen bottom, the
// adapter's forward with the given noise, the frozen towers, the loss, the
// towers' input gradient and the adapter's backward. Only the adapter's
// gradients are written (iak->mutable_grads()); nothing is computed for the
// frozen weights.
//
// Thread-safety: one caller at a time; the models are only read.
#ifndef IAK_MODEL_ADAPTER_STEP_ENGINE_H_
#define IAK_MODEL_ADAPTER_STEP_ENGINE_H_

#include <memory>

#include "common/status.h"
#include "model/base_model.h"
#include "model/bf16_bottom.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/parallel_step.h"

namespace iak::model {

// One batch's inputs. x [n x input_dim] (pooled embeddings), or h [n x h_dim]
// when the caller already holds the frozen bottom's output (the frozen-prefix
// cache); click [n]; conversion [n] or null; eps [n x latent_dim] or null for
// a plain adapter.
struct AdapterBatch {
  int n = 0;
  const float* x = nullptr;
  const float* h = nullptr;
  const float* click = nullptr;
  const float* conversion = nullptr;
  const float* eps = nullptr;
};

class AdapterStepEngine {
 public:
  virtual ~AdapterStepEngine() = default;
  virtual const char* name() const = 0;
  // Whether the engine can start from h and hand h back (the frozen-prefix
  // cache needs both).
  virtual bool supports_prefix_cache() const = 0;
  // Overwrites iak->mutable_grads() with the batch's gradients. When batch.h
  // is null, x is used and, if h_out is not null, the bottom's output is
  // written there (n x h_dim) for the cache. Errors: the device's.
  [[nodiscard]] virtual StatusOr<StepStats> Run(const BaseModel& base, IakModule* iak,
                                                IakPhase phase, float beta,
                                                const AdapterBatch& batch, float* h_out) = 0;
};

// The CPU engine: ParallelFineTuneStep over `num_threads` threads; with
// `bf16_bottom` (made from the base model Run is given, with num_threads
// parts) the frozen bottom runs in bf16.
class CpuAdapterStepEngine : public AdapterStepEngine {
 public:
  explicit CpuAdapterStepEngine(int num_threads, std::unique_ptr<Bf16Bottom> bf16_bottom = nullptr)
      : step_(num_threads), bf16_bottom_(std::move(bf16_bottom)) {
    step_.set_bf16_bottom(bf16_bottom_.get());
  }
  const char* name() const override { return "cpu"; }
  bool supports_prefix_cache() const override { return true; }
  StatusOr<StepStats> Run(const BaseModel& base, IakModule* iak, IakPhase phase, float beta,
                          const AdapterBatch& batch, float* h_out) override;

 private:
  ParallelFineTuneStep step_;
  std::unique_ptr<Bf16Bottom> bf16_bottom_;
  std::vector<float> h_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_ADAPTER_STEP_ENGINE_H_
