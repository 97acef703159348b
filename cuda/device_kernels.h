// Launchers of the element-wise and reduction kernels of the GPU step. Each
// mirrors one piece of the CPU path (model/matrix_ops, model/iak_module,
// model/loss, model/embedding_pooling) operation for operation, so the two
// paths agree to float rounding. All pointers are device pointers; every
// launch is asynchronous on `stream`. Internal to cuda/.
//
// Thread-safety: stateless.
#ifndef IAK_CUDA_DEVICE_KERNELS_H_
#define IAK_CUDA_DEVICE_KERNELS_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace iak::cuda {

// y[r][c] = act(y[r][c] + b[c]) over a [batch x out] matrix.
void LaunchBiasActivation(float* y, const float* b, int batch, int out,
                          bool relu, cudaStream_t stream);

// dx = dy where y > 0, else 0 (y the ReLU output); dx may alias dy.
void LaunchReluBackward(const float* y, const float* dy, size_t n, float* dx,
                        cudaStream_t stream);

// out = a + b; out may alias a or b.
void LaunchAdd(const float* a, const float* b, size_t n, float* out,
               cudaStream_t stream);

// x[0..n) = value.
void LaunchFill(float* x, float value, size_t n, cudaStream_t stream);

// Reparameterisation of the IAK bottleneck. enc_out is [batch x 2k] (mu,
// logvar); z = mu + exp(0.5 clamp(logvar)) * eps; kl_terms[r*k+j] =
// 0.5 * (exp(lv) + mu^2 - 1 - lv) in double, summed later.
void LaunchReparameterize(const float* enc_out, const float* eps, int batch,
                          int k, float* z, double* kl_terms,
                          cudaStream_t stream);

// Backward of the reparameterisation plus beta * KL: d_enc [batch x 2k]
// from dz [batch x k], with kl_scale = beta / batch.
void LaunchLatentBackward(const float* enc_out, const float* eps,
                          const float* dz, int batch, int k, float kl_scale,
                          float* d_enc, cudaStream_t stream);

// model::TaskLoss on the device: row_loss[r] (double) and d logits, one
// column per task. logit1/conversion/dlogit1 are null for a CTR model.
void LaunchTaskLoss(const float* logit0, const float* logit1,
                    const float* click, const float* conversion, int batch,
                    float* dlogit0, float* dlogit1, double* row_loss,
                    cudaStream_t stream);

// *out = sum of terms[0..n), in a fixed order (deterministic run to run).
void LaunchSum(const double* terms, size_t n, double* out,
               cudaStream_t stream);

// model::PoolBatch on staged rows: for (sample r, field f) the keys'
// row indices are row_index[offsets[r*fields+f] .. offsets[r*fields+f+1])
// into rows [num_rows x dim] (-1: key missing, a zero row); x is
// [batch x fields*dim]; mean_field[f] != 0 divides by the key count.
void LaunchPoolFields(const float* rows, const int32_t* row_index,
                      const int64_t* offsets, const uint8_t* mean_field,
                      int batch, int fields, int dim, float* x,
                      cudaStream_t stream);

}  // namespace iak::cuda

#endif  // IAK_CUDA_DEVICE_KERNELS_H_
