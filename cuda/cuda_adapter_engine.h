// The GPU AdapterStepEngine (model/adapter_step_engine.h): each step on a
// CudaFineTuneStep (cuBLAS FP32 and kernels), the frozen base uploaded once.
// It starts from the pooled x only (the bottom runs on the device), so the
// frozen-prefix cache is not used with it.
#ifndef IAK_CUDA_CUDA_ADAPTER_ENGINE_H_
#define IAK_CUDA_CUDA_ADAPTER_ENGINE_H_

#include <memory>

#include "common/status.h"
#include "model/adapter_step_engine.h"
#include "model/base_model.h"
#include "model/iak_module.h"

namespace iak::cuda {

// Unavailable when no usable device is found.
[[nodiscard]] StatusOr<std::unique_ptr<model::AdapterStepEngine>> CreateCudaAdapterStepEngine(
    const model::BaseModel& base, const model::IakConfig& config, int device, int max_batch);

}  // namespace iak::cuda

#endif  // IAK_CUDA_CUDA_ADAPTER_ENGINE_H_
