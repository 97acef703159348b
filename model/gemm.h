// Sgemm: the one place model/ calls the GEMM library, chosen at build time
// by the CMake option IAK_BLAS (onednn, openblas, blis, mkl; see the top
// CMakeLists.txt and docs/benchmarks.md "GEMM library" for the measurement
// that picked the default). matrix_ops.cc is its only caller.
//
// Thread-safety: safe from any number of threads. Each call uses at most
// BlasThreads() threads (model/blas_threads.h); with oneDNN (OpenMP) the
// setting is applied per calling thread on its first call after a change.
#ifndef IAK_MODEL_GEMM_H_
#define IAK_MODEL_GEMM_H_

namespace iak::model {

// Row-major C[m x n] = alpha * op(A) * op(B) + beta * C, op = transpose when
// trans_*; lda/ldb/ldc are the row strides of A, B and C as stored.
void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
           int lda, const float* b, int ldb, float beta, float* c, int ldc);

// The library's name ("onednn", "openblas", "blis", "mkl"), for logs and
// benchmark output.
const char* GemmLibraryName();

}  // namespace iak::model

#endif  // IAK_MODEL_GEMM_H_
