#include "cuda/cuda_adapter_engine.h"

#include <utility>

#include "cuda/cuda_fine_tune_step.h"

namespace iak::cuda {
namespace {

class CudaAdapterStepEngine : public model::AdapterStepEngine {
 public:
  explicit CudaAdapterStepEngine(std::unique_ptr<CudaFineTuneStep> step) : step_(std::move(step)) {}
  const char* name() const override { return "cuda"; }
  bool supports_prefix_cache() const override { return false; }
  StatusOr<model::StepStats> Run(const model::BaseModel& base, model::IakModule* iak,
                                 model::IakPhase phase, float beta,
                                 const model::AdapterBatch& batch, float* h_out) override {
    (void)base;  // uploaded at Create()
    if (batch.h != nullptr || h_out != nullptr) {
      return FailedPreconditionError("the CUDA step starts from x: turn the frozen-prefix cache off");
    }
    if (batch.n == 0) {
      iak->ZeroGrads();
      return model::StepStats();
    }
    return step_->RunWithEps(iak, phase, beta, batch.x, batch.n, batch.click, batch.conversion,
                             batch.eps);
  }

 private:
  std::unique_ptr<CudaFineTuneStep> step_;
};

}  // namespace

StatusOr<std::unique_ptr<model::AdapterStepEngine>> CreateCudaAdapterStepEngine(
    const model::BaseModel& base, const model::IakConfig& config, int device, int max_batch) {
  CudaStepOptions options;
  options.device = device;
  options.max_batch = max_batch;
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<CudaFineTuneStep> step,
                       CudaFineTuneStep::Create(base, config, options));
  return std::unique_ptr<model::AdapterStepEngine>(
      std::make_unique<CudaAdapterStepEngine>(std::move(step)));
}

}  // namespace iak::cuda
