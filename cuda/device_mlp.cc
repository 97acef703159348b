#include "cuda/device_mlp.h"

#include <algorithm>
#include <utility>

#include <glog/logging.h>

#include "cuda/device_kernels.h"
#include "model/mlp.h"

namespace iak::cuda {
namespace {

constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;

// Row-major Y[b x out] = X[b x in] * W[in x out]; in cuBLAS's column-major
// view that is Y^T = W^T X^T with W^T stored as [out x in], ld = out.
Status Gemm(cublasHandle_t blas, cublasOperation_t op_a, cublasOperation_t op_b,
            int m, int n, int k, const float* a, int lda, const float* b,
            int ldb, float beta, float* c, int ldc) {
  IAK_CUBLAS_RETURN_IF_ERROR(
      cublasSgemm(blas, op_a, op_b, m, n, k, &kOne, a, lda, b, ldb, &beta, c, ldc));
  return Status::Ok();
}

}  // namespace

DeviceMlp::DeviceMlp(std::vector<int> dims, bool last_relu)
    : dims_(std::move(dims)), last_relu_(last_relu) {
  CHECK_GE(dims_.size(), 2u) << "an Mlp needs an input and an output width";
  // The CPU Mlp is the authority on the layout.
  model::Mlp layout(dims_, last_relu ? model::Activation::kRelu : model::Activation::kNone);
  for (int i = 0; i < layout.num_layers(); ++i) offsets_.push_back(layout.layer_offset(i));
  num_params_ = layout.num_params();
  max_width_ = *std::max_element(dims_.begin(), dims_.end());
  outputs_.resize(dims_.size() - 1);
}

Status DeviceMlp::Reserve(int max_batch) {
  const size_t b = static_cast<size_t>(max_batch);
  for (size_t i = 0; i < outputs_.size(); ++i) {
    IAK_RETURN_IF_ERROR(outputs_[i].Reserve(b * dims_[i + 1]));
  }
  IAK_RETURN_IF_ERROR(grad_a_.Reserve(b * max_width_));
  IAK_RETURN_IF_ERROR(grad_b_.Reserve(b * max_width_));
  if (ones_.size() < b) {
    IAK_RETURN_IF_ERROR(ones_.Reserve(b));
    LaunchFill(ones_.data(), 1.0f, b, nullptr);
    IAK_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  }
  return Status::Ok();
}

Status DeviceMlp::Forward(cublasHandle_t blas, cudaStream_t stream,
                          const float* params, const float* x, int batch) {
  CHECK_LE(static_cast<size_t>(batch), ones_.size()) << "batch above Reserve()";
  input_ = x;
  batch_ = batch;
  if (batch == 0) return Status::Ok();
  const float* in = x;
  const int layers = static_cast<int>(outputs_.size());
  for (int i = 0; i < layers; ++i) {
    const int in_dim = dims_[i];
    const int out_dim = dims_[i + 1];
    const float* w = params + offsets_[i];
    const float* b = w + static_cast<size_t>(in_dim) * out_dim;
    float* out = outputs_[i].data();
    IAK_RETURN_IF_ERROR(Gemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, out_dim, batch, in_dim, w,
                             out_dim, in, in_dim, kZero, out, out_dim));
    const bool relu = i + 1 < layers || last_relu_;
    LaunchBiasActivation(out, b, batch, out_dim, relu, stream);
    in = out;
  }
  return CudaStatus(static_cast<int>(cudaGetLastError()), "DeviceMlp forward kernels");
}

Status DeviceMlp::Backward(cublasHandle_t blas, cudaStream_t stream,
                           const float* params, const float* dy, int batch,
                           float* dx, float* param_grads) {
  CHECK_EQ(batch, batch_) << "Backward must follow a Forward of the same batch";
  if (batch == 0 || (dx == nullptr && param_grads == nullptr)) return Status::Ok();
  float* cur = grad_a_.data();
  float* next = grad_b_.data();
  const int last = static_cast<int>(outputs_.size()) - 1;
  const float* g = dy;
  if (last_relu_) {
    LaunchReluBackward(outputs_[last].data(), dy, static_cast<size_t>(batch) * out_dim(),
                       cur, stream);
    g = cur;
    std::swap(cur, next);
  }
  for (int i = last; i >= 0; --i) {
    const int in_dim = dims_[i];
    const int out_dim = dims_[i + 1];
    const float* w = params + offsets_[i];
    const float* in = i == 0 ? input_ : outputs_[i - 1].data();
    if (param_grads != nullptr) {
      float* dw = param_grads + offsets_[i];
      float* db = dw + static_cast<size_t>(in_dim) * out_dim;
      // dW += X^T dY: column-major dW^T [out x in] += dY^T X.
      IAK_RETURN_IF_ERROR(Gemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, out_dim, in_dim, batch, g,
                               out_dim, in, in_dim, kOne, dw, out_dim));
      // db += column sums of dY: dY^T [out x batch] * ones.
      IAK_CUBLAS_RETURN_IF_ERROR(cublasSgemv(blas, CUBLAS_OP_N, out_dim, batch, &kOne, g,
                                             out_dim, ones_.data(), 1, &kOne, db, 1));
    }
    float* d_in = i > 0 ? cur : dx;
    if (d_in != nullptr) {
      // dX = dY W^T: column-major dX^T [in x batch] = W [in x out] dY^T.
      IAK_RETURN_IF_ERROR(Gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, in_dim, batch, out_dim, w,
                               out_dim, g, out_dim, kZero, d_in, in_dim));
    }
    if (i > 0) {
      // Layer i-1 is always followed by a ReLU.
      LaunchReluBackward(outputs_[i - 1].data(), cur, static_cast<size_t>(batch) * in_dim,
                         cur, stream);
      g = cur;
      std::swap(cur, next);
    }
  }
  return CudaStatus(static_cast<int>(cudaGetLastError()), "DeviceMlp backward kernels");
}

}  // namespace iak::cuda
