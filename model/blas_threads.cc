#include "model/blas_threads.h"

#include <cblas.h>

#include <glog/logging.h>

namespace iak::model {

void SetBlasThreads(int num_threads) {
  CHECK_GE(num_threads, 1);
  openblas_set_num_threads(num_threads);
}

int BlasThreads() { return openblas_get_num_threads(); }

}  // namespace iak::model
