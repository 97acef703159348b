// The thread count of the BLAS library (OpenBLAS) under model/'s GEMMs.
//
// OpenBLAS keeps this as process-wide state; it is wrapped here so that the
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
