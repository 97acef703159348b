// The thread count of the GEMM library (model/gemm.h, IAK_BLAS) under
// model/'s GEMMs; implemented in gemm.cc next to the library calls.
//
// The libraries keep this as process-wide state; it is wrapped here so that the
// one component that decides it (the trainer that splits batches over its
// own threads, which wants single-threaded GEMMs) says so explicitly.
#ifndef IAK_MODEL_BLAS_THREADS_H_
#define IAK_MODEL_BLAS_THREADS_H_

namespace iak::model {

// Sets the number of threads each BLAS call may use (>= 1).
void SetBlasThreads(int num_threads);
int BlasThreads();

}  // namespace iak::model

#endif  // IAK_MODEL_BLAS_THREADS_H_
