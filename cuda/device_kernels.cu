#include "cuda/device_kernels.h"

#include "model/loss.h"

namespace iak::cuda {
namespace {

constexpr int kThreads = 256;
// Mirrors the clamp of model/iak_module.cc (kLogVarMin/kLogVarMax there).
constexpr float kLogVarMin = -20.0f;
constexpr float kLogVarMax = 20.0f;

unsigned Blocks(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b == 0 ? 1 : (b > 65535u * 16u ? 65535u * 16u : b));
}

// model::Sigmoid and model::LogSigmoid, branch for branch.
__device__ float Sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__device__ float LogSigmoid(float x) {
  return x >= 0.0f ? -log1pf(expf(-x)) : x - log1pf(expf(x));
}

__global__ void BiasActivationKernel(float* y, const float* b, size_t n,
                                     int out, bool relu) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    const float v = y[i] + b[i % out];
    y[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
  }
}

__global__ void ReluBackwardKernel(const float* y, const float* dy, size_t n,
                                   float* dx) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
}

__global__ void AddKernel(const float* a, const float* b, size_t n, float* out) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void FillKernel(float* x, float value, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    x[i] = value;
  }
}

// mu and log-variance of latent i (sample i / k, coordinate i % k) from the
// encoder's output [batch x 2k]: mu in the first k columns, logvar after.
__device__ inline void LatentAt(const float* enc_out, size_t i, int k, float* mu,
                                float* logvar) {
  const size_t r = i / k;
  const size_t j = i % k;
  *mu = enc_out[r * 2 * k + j];
  *logvar = enc_out[r * 2 * k + k + j];
}

__global__ void ReparameterizeKernel(const float* enc_out, const float* eps,
                                     int batch, int k, float* z,
                                     double* kl_terms) {
  const size_t n = static_cast<size_t>(batch) * k;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    float mu, logvar;
    LatentAt(enc_out, i, k, &mu, &logvar);
    const float lv = fminf(fmaxf(logvar, kLogVarMin), kLogVarMax);
    z[i] = mu + expf(0.5f * lv) * eps[i];
    kl_terms[i] = 0.5 * static_cast<double>(expf(lv) + mu * mu - 1.0f - lv);
  }
}

__global__ void LatentBackwardKernel(const float* enc_out, const float* eps,
                                     const float* dz, int batch, int k,
                                     float kl_scale, float* d_enc) {
  const size_t n = static_cast<size_t>(batch) * k;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    const size_t r = i / k;
    const size_t j = i % k;
    float mu, logvar;
    LatentAt(enc_out, i, k, &mu, &logvar);
    d_enc[r * 2 * k + j] = dz[i] + kl_scale * mu;
    float dlogvar = 0.0f;
    if (logvar >= kLogVarMin && logvar <= kLogVarMax) {
      const float var = expf(logvar);
      // z = mu + exp(lv/2) eps  =>  dz/dlv = 0.5 exp(lv/2) eps.
      dlogvar = dz[i] * 0.5f * sqrtf(var) * eps[i] + kl_scale * 0.5f * (var - 1.0f);
    }
    d_enc[r * 2 * k + k + j] = dlogvar;
  }
}

__global__ void TaskLossKernel(const float* logit0, const float* logit1,
                               const float* click, const float* conversion,
                               int batch, float* dlogit0, float* dlogit1,
                               double* row_loss) {
  const float inv_batch = 1.0f / static_cast<float>(batch);
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < batch;
       r += blockDim.x * gridDim.x) {
    const float l0 = logit0[r];
    const float y1 = click[r];
    float d0 = Sigmoid(l0) - y1;
    double loss = -(y1 * LogSigmoid(l0) + (1.0f - y1) * LogSigmoid(-l0));
    if (logit1 != nullptr) {
      const float l1 = logit1[r];
      const float y2 = y1 * conversion[r];
      const float p = Sigmoid(l0);
      const float q = Sigmoid(l1);
      const float t = p * q;
      // 1 - p*q = (1-p) + p(1-q), each factor exact for saturated logits.
      const float one_minus_t = fmaxf(Sigmoid(-l0) + p * Sigmoid(-l1), model::kProbEps);
      const float log_t = LogSigmoid(l0) + LogSigmoid(l1);
      loss += -(y2 * log_t + (1.0f - y2) * logf(one_minus_t));
      const float common = (t - y2) / one_minus_t;
      d0 += common * Sigmoid(-l0);
      dlogit1[r] = common * Sigmoid(-l1) * inv_batch;
    }
    dlogit0[r] = d0 * inv_batch;
    row_loss[r] = loss;
  }
}

// One block; each thread sums a fixed stride, then a fixed tree: the same
// order on every run.
__global__ void SumKernel(const double* terms, size_t n, double* out) {
  __shared__ double partial[kThreads];
  double s = 0.0;
  for (size_t i = threadIdx.x; i < n; i += kThreads) s += terms[i];
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (static_cast<int>(threadIdx.x) < width) {
      partial[threadIdx.x] += partial[threadIdx.x + width];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = partial[0];
}

// One thread per output float x[r][f*dim + j]: keys summed in order, then
// scaled, exactly as model::PoolBatch does.
__global__ void PoolFieldsKernel(const float* rows, const int32_t* row_index,
                                 const int64_t* offsets,
                                 const uint8_t* mean_field, int batch,
                                 int fields, int dim, float* x) {
  const size_t n = static_cast<size_t>(batch) * fields * dim;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{blockDim.x} * gridDim.x) {
    const size_t sf = i / dim;  // r * fields + f
    const int j = static_cast<int>(i % dim);
    const int f = static_cast<int>(sf % fields);
    const int64_t begin = offsets[sf];
    const int64_t end = offsets[sf + 1];
    float sum = 0.0f;
    for (int64_t o = begin; o < end; ++o) {
      const int32_t row = row_index[o];
      if (row >= 0) sum += rows[static_cast<size_t>(row) * dim + j];
    }
    const int64_t count = end - begin;
    if (mean_field[f] != 0 && count > 1) sum *= 1.0f / static_cast<float>(count);
    x[i] = sum;
  }
}

}  // namespace

void LaunchBiasActivation(float* y, const float* b, int batch, int out,
                          bool relu, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(batch) * out;
  if (n == 0) return;
  BiasActivationKernel<<<Blocks(n), kThreads, 0, stream>>>(y, b, n, out, relu);
}

void LaunchReluBackward(const float* y, const float* dy, size_t n, float* dx,
                        cudaStream_t stream) {
  if (n == 0) return;
  ReluBackwardKernel<<<Blocks(n), kThreads, 0, stream>>>(y, dy, n, dx);
}

void LaunchAdd(const float* a, const float* b, size_t n, float* out,
               cudaStream_t stream) {
  if (n == 0) return;
  AddKernel<<<Blocks(n), kThreads, 0, stream>>>(a, b, n, out);
}

void LaunchFill(float* x, float value, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  FillKernel<<<Blocks(n), kThreads, 0, stream>>>(x, value, n);
}

void LaunchReparameterize(const float* enc_out, const float* eps, int batch,
                          int k, float* z, double* kl_terms,
                          cudaStream_t stream) {
  const size_t n = static_cast<size_t>(batch) * k;
  if (n == 0) return;
  ReparameterizeKernel<<<Blocks(n), kThreads, 0, stream>>>(enc_out, eps, batch, k, z,
                                                           kl_terms);
}

void LaunchLatentBackward(const float* enc_out, const float* eps,
                          const float* dz, int batch, int k, float kl_scale,
                          float* d_enc, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(batch) * k;
  if (n == 0) return;
  LatentBackwardKernel<<<Blocks(n), kThreads, 0, stream>>>(enc_out, eps, dz, batch, k,
                                                           kl_scale, d_enc);
}

void LaunchTaskLoss(const float* logit0, const float* logit1,
                    const float* click, const float* conversion, int batch,
                    float* dlogit0, float* dlogit1, double* row_loss,
                    cudaStream_t stream) {
  if (batch <= 0) return;
  TaskLossKernel<<<Blocks(batch), kThreads, 0, stream>>>(
      logit0, logit1, click, conversion, batch, dlogit0, dlogit1, row_loss);
}

void LaunchSum(const double* terms, size_t n, double* out, cudaStream_t stream) {
  SumKernel<<<1, kThreads, 0, stream>>>(terms, n, out);
}

void LaunchPoolFields(const float* rows, const int32_t* row_index,
                      const int64_t* offsets, const uint8_t* mean_field,
                      int batch, int fields, int dim, float* x,
                      cudaStream_t stream) {
  const size_t n = static_cast<size_t>(batch) * fields * dim;
  if (n == 0) return;
  PoolFieldsKernel<<<Blocks(n), kThreads, 0, stream>>>(rows, row_index, offsets, mean_field,
                                                       batch, fields, dim, x);
}

}  // namespace iak::cuda
