#include "model/gemm.h"

#include <glog/logging.h>

#include <atomic>

#include "model/blas_threads.h"

#if defined(IAK_BLAS_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#elif defined(IAK_BLAS_MKL)
#include <mkl.h>
#else
#include <cblas.h>
#if defined(IAK_BLAS_BLIS)
#include <blis.h>
#endif
#endif

namespace iak::model {
namespace {

#if defined(IAK_BLAS_ONEDNN)
// OpenMP's thread count is per calling thread (each thread that is not an
// OpenMP worker starts from OMP_NUM_THREADS or the core count), so the
// process-wide setting is applied lazily on each thread: a generation
// counter tells a thread its applied value is stale.
std::atomic<int> g_threads{0};  // 0 = never set: the OpenMP default
std::atomic<int> g_generation{0};
thread_local int t_generation = 0;

void ApplyThreadsOnThisThread() {
  const int generation = g_generation.load(std::memory_order_relaxed);
  if (t_generation == generation) return;
  t_generation = generation;
  const int threads = g_threads.load(std::memory_order_relaxed);
  if (threads > 0) omp_set_num_threads(threads);
}
#endif

}  // namespace

void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
           int lda, const float* b, int ldb, float beta, float* c, int ldc) {
#if defined(IAK_BLAS_ONEDNN)
  ApplyThreadsOnThisThread();
  const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k,
                                          alpha, a, lda, b, ldb, beta, c, ldc);
  CHECK_EQ(status, dnnl_success) << "dnnl_sgemm " << m << "x" << n << "x" << k;
#else
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

const char* GemmLibraryName() {
#if defined(IAK_BLAS_ONEDNN)
  return "onednn";
#elif defined(IAK_BLAS_MKL)
  return "mkl";
#elif defined(IAK_BLAS_BLIS)
  return "blis";
#else
  return "openblas";
#endif
}

void SetBlasThreads(int num_threads) {
  CHECK_GE(num_threads, 1);
#if defined(IAK_BLAS_ONEDNN)
  g_threads.store(num_threads);
  g_generation.fetch_add(1);
  ApplyThreadsOnThisThread();
#elif defined(IAK_BLAS_MKL)
  mkl_set_num_threads(num_threads);  // sequential MKL: always 1
#elif defined(IAK_BLAS_BLIS)
  bli_thread_set_num_threads(num_threads);
#else
  openblas_set_num_threads(num_threads);
#endif
}

int BlasThreads() {
#if defined(IAK_BLAS_ONEDNN)
  const int threads = g_threads.load();
  return threads > 0 ? threads : omp_get_max_threads();
#elif defined(IAK_BLAS_MKL)
  return mkl_get_max_threads();
#elif defined(IAK_BLAS_BLIS)
  return static_cast<int>(bli_thread_get_num_threads());
#else
  return openblas_get_num_threads();
#endif
}

}  // namespace iak::model
