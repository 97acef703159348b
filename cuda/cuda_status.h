// Turning CUDA runtime and cuBLAS error codes into Status, and the device
// queries the rest of the project may make without including CUDA headers.
//
// Failures of the CUDA runtime (no driver, no device, out of memory, a
// launch error) are the world's fault, not the program's: they come back as
// Status with the call that failed and what to check, never as a crash.
//
// Thread-safety: pure functions.
#ifndef IAK_CUDA_CUDA_STATUS_H_
#define IAK_CUDA_CUDA_STATUS_H_

#include <string>

#include "common/status.h"

namespace iak::cuda {

// The number of CUDA devices this process can use, or an Unavailable status
// saying why none can be used (no driver, driver too old, no device).
StatusOr<int> DeviceCount();

// "NVIDIA H200 (sm_90, 139 GiB)" for device `device`, or the error.
StatusOr<std::string> DeviceName(int device);

// Ok for cudaSuccess (0); otherwise an error naming `what` and the CUDA
// error string. `code` is a cudaError_t.
Status CudaStatus(int code, const char* what);

// The same for a cublasStatus_t.
Status CublasStatus(int code, const char* what);

}  // namespace iak::cuda

// Returns the enclosing function's error when a CUDA runtime call fails.
#define IAK_CUDA_RETURN_IF_ERROR(call) \
  IAK_RETURN_IF_ERROR(::iak::cuda::CudaStatus(static_cast<int>(call), #call))
#define IAK_CUBLAS_RETURN_IF_ERROR(call) \
  IAK_RETURN_IF_ERROR(::iak::cuda::CublasStatus(static_cast<int>(call), #call))

#endif  // IAK_CUDA_CUDA_STATUS_H_
