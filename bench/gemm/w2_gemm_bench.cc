// The GEMMs of one W2 step (docs/BENCHMARKS.md) on one thread, for choosing
// the BLAS library by measurement (bench/gemm/run.sh builds this file once
// per library and runs the builds alternately).
//
// The shapes are those ParallelFineTuneStep issues per compute thread for a
// batch of 1,024 split over 2 threads (512 rows each), as logged from the
// real step by interposing cblas_sgemm: the frozen bottom in blocks of 256
// rows, the IAK and fused towers forward, the towers' and IAK's input
// gradients and the IAK's weight gradients. Row-major throughout.
//
// Prints one line: library, CPU us per sample (this thread's CPU time, which
// other tenants of the machine do not inflate), GFLOP/s, and the bottom /
// rest split. Build with one of -DUSE_CBLAS (OpenBLAS, BLIS, MKL),
// -DUSE_DNNL (oneDNN's dnnl_sgemm), -DUSE_XSMM (libxsmm).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#if defined(USE_CBLAS)
#include <cblas.h>
#if defined(IAK_BLIS)
#include <blis.h>
#endif
#elif defined(USE_MKL)
#include <mkl.h>
#elif defined(USE_DNNL)
#include <dnnl.h>
#elif defined(USE_XSMM)
#include <libxsmm.h>
#endif

#ifndef LIB_NAME
#define LIB_NAME "unknown"
#endif

namespace {

struct Shape {
  bool ta, tb;
  int m, n, k;
  float beta;
  bool bottom;
};

// Per compute thread, per step (512 rows of the batch).
const Shape kShapes[] = {
    // frozen bottom: 2 blocks of 256 rows
    {false, false, 256, 256, 416, 0, true}, {false, false, 256, 128, 256, 0, true},
    {false, false, 256, 256, 416, 0, true}, {false, false, 256, 128, 256, 0, true},
    // IAK encoder, decoder, fused towers' hidden layer
    {false, false, 512, 64, 128, 0, false}, {false, false, 512, 64, 64, 0, false},
    {false, false, 512, 64, 32, 0, false}, {false, false, 512, 128, 64, 0, false},
    {false, false, 512, 128, 128, 0, false},
    // input gradients (dy * W^T)
    {false, true, 512, 128, 128, 0, false}, {false, true, 512, 64, 128, 0, false},
    {false, true, 512, 32, 64, 0, false}, {false, true, 512, 64, 64, 0, false},
    // weight gradients (x^T * dy, accumulated)
    {true, false, 128, 64, 512, 1, false}, {true, false, 32, 64, 512, 1, false},
    {true, false, 64, 128, 512, 1, false}, {true, false, 64, 64, 512, 1, false},
};
constexpr int kRows = 512;

void Gemm(const Shape& s, const float* a, const float* b, float* c) {
  const int lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n, ldc = s.n;
#if defined(USE_CBLAS) || defined(USE_MKL)
  cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
              s.m, s.n, s.k, 1.0f, a, lda, b, ldb, s.beta, c, ldc);
#elif defined(USE_DNNL)
  dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a, lda, b, ldb, s.beta, c,
             ldc);
#elif defined(USE_XSMM)
  // Column-major: C^T = B^T A^T.
  const char tb = s.tb ? 'T' : 'N', ta = s.ta ? 'T' : 'N';
  const float alpha = 1.0f, beta = s.beta;
  const libxsmm_blasint m = s.n, n = s.m, k = s.k, la = ldb, lb = lda, lc = ldc;
  libxsmm_sgemm(&tb, &ta, &m, &n, &k, &alpha, b, &la, a, &lb, &beta, c, &lc);
#endif
}

double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
#if defined(USE_CBLAS) && defined(IAK_OPENBLAS)
  openblas_set_num_threads(1);
#elif defined(USE_CBLAS) && defined(IAK_BLIS)
  bli_thread_set_num_threads(1);
#elif defined(USE_MKL)
  mkl_set_num_threads(1);
#endif
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  std::vector<std::vector<float>> a, b, c;
  for (const Shape& s : kShapes) {
    a.emplace_back(static_cast<size_t>(s.m) * s.k);
    b.emplace_back(static_cast<size_t>(s.k) * s.n);
    c.emplace_back(static_cast<size_t>(s.m) * s.n, 0.0f);
    for (float& x : a.back()) x = dist(rng);
    for (float& x : b.back()) x = dist(rng);
  }
  const size_t num = sizeof(kShapes) / sizeof(kShapes[0]);
  double flops = 0, bottom_flops = 0;
  for (const Shape& s : kShapes) {
    flops += 2.0 * s.m * s.n * s.k;
    if (s.bottom) bottom_flops += 2.0 * s.m * s.n * s.k;
  }
  for (int w = 0; w < 20; ++w) {
    for (size_t i = 0; i < num; ++i) Gemm(kShapes[i], a[i].data(), b[i].data(), c[i].data());
  }
  double bottom = 0, rest = 0;
  for (int it = 0; it < steps; ++it) {
    const double t0 = ThreadCpu();
    for (size_t i = 0; i < 4; ++i) Gemm(kShapes[i], a[i].data(), b[i].data(), c[i].data());
    const double t1 = ThreadCpu();
    for (size_t i = 4; i < num; ++i) Gemm(kShapes[i], a[i].data(), b[i].data(), c[i].data());
    const double t2 = ThreadCpu();
    bottom += t1 - t0;
    rest += t2 - t1;
  }
  const double per_sample = (bottom + rest) / steps / kRows * 1e6;
  std::printf("%-9s %6.3f CPU us/sample  %6.1f GFLOP/s  bottom %6.1f GFLOP/s  rest %6.1f GFLOP/s\n",
              LIB_NAME, per_sample, flops * steps / (bottom + rest) / 1e9,
              bottom_flops * steps / bottom / 1e9, (flops - bottom_flops) * steps / rest / 1e9);
  return 0;
}
