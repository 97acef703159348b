// DeviceMlp: model::Mlp on the GPU. Same parameter layout (per layer W
// [in x out] row-major, then b [out], layers back to back), same activation
// rule (ReLU between layers, optionally after the last), same backward
// order, so it reads the flat parameter spans of BaseModel and IakModule as
// uploaded. Matrix products are cuBLAS SGEMM on row-major data (expressed
// as the transposed column-major product); bias + ReLU is a kernel.
//
// Activations stay in buffers owned here, sized once by Reserve(max_batch).
// Internal to cuda/.
//
// Thread-safety: one stream, one thread.
#ifndef IAK_CUDA_DEVICE_MLP_H_
#define IAK_CUDA_DEVICE_MLP_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <vector>

#include "common/status.h"
#include "cuda/device_buffer.h"

namespace iak::cuda {

class DeviceMlp {
 public:
  // dims = {in, hidden..., out}, as for model::Mlp.
  DeviceMlp(std::vector<int> dims, bool last_relu);

  size_t num_params() const { return num_params_; }
  int in_dim() const { return dims_.front(); }
  int out_dim() const { return dims_.back(); }

  [[nodiscard]] Status Reserve(int max_batch);

  // Forward of x [batch x in] (device; must stay unchanged until Backward)
  // with parameters `params` (device, num_params() floats). The result is
  // output(), [batch x out].
  [[nodiscard]] Status Forward(cublasHandle_t blas, cudaStream_t stream,
                               const float* params, const float* x, int batch);
  const float* output() const { return outputs_.back().data(); }

  // Backward of the last Forward given dy [batch x out]: dx (overwritten,
  // [batch x in]) and param_grads (accumulated, layout of params); either
  // may be null to skip it. dy may be output()-sized scratch of the caller.
  [[nodiscard]] Status Backward(cublasHandle_t blas, cudaStream_t stream,
                                const float* params, const float* dy,
                                int batch, float* dx, float* param_grads);

 private:
  std::vector<int> dims_;
  bool last_relu_;
  std::vector<size_t> offsets_;
  size_t num_params_ = 0;
  int max_width_ = 0;
  const float* input_ = nullptr;
  int batch_ = 0;
  std::vector<DeviceBuffer<float>> outputs_;  // per layer, post-activation
  DeviceBuffer<float> grad_a_;
  DeviceBuffer<float> grad_b_;
  DeviceBuffer<float> ones_;  // [max_batch] of 1: column sums via GEMV
};

}  // namespace iak::cuda

#endif  // IAK_CUDA_DEVICE_MLP_H_
