#include "cuda/cuda_status.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace iak::cuda {

Status CudaStatus(int code, const char* what) {
  const auto err = static_cast<cudaError_t>(code);
  if (err == cudaSuccess) return Status::Ok();
  std::string message = std::string("CUDA: ") + what + " failed: " +
                        cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  switch (err) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
      return UnavailableError(message + "; check that an NVIDIA GPU and a driver for CUDA " +
                              std::to_string(CUDART_VERSION / 1000) + " are present");
    case cudaErrorMemoryAllocation:
      return UnavailableError(message + "; the device is out of memory (smaller batch?)");
    case cudaErrorInvalidValue:
      return InvalidArgumentError(message);
    default:
      return InternalError(message);
  }
}

Status CublasStatus(int code, const char* what) {
  const auto st = static_cast<cublasStatus_t>(code);
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  std::string message = std::string("cuBLAS: ") + what + " failed: " +
                        cublasGetStatusName(st) + " (" + cublasGetStatusString(st) + ")";
  if (st == CUBLAS_STATUS_NOT_INITIALIZED || st == CUBLAS_STATUS_ALLOC_FAILED) {
    return UnavailableError(message);
  }
  return InternalError(message);
}

StatusOr<int> DeviceCount() {
  int count = 0;
  IAK_CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count));
  if (count == 0) {
    return UnavailableError("CUDA: no device found; the GPU path needs an NVIDIA GPU");
  }
  return count;
}

StatusOr<std::string> DeviceName(int device) {
  cudaDeviceProp prop;
  IAK_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " +
         std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
}

}  // namespace iak::cuda
