// Shared by the GPU tests: skip cleanly, with the reason, without a device.
#ifndef IAK_TESTS_CUDA_GPU_TEST_UTIL_H_
#define IAK_TESTS_CUDA_GPU_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cuda/cuda_status.h"

#define IAK_SKIP_WITHOUT_GPU()                                               \
  do {                                                                       \
    const auto iak_devices_ = ::iak::cuda::DeviceCount();                    \
    if (!iak_devices_.ok()) {                                                \
      GTEST_SKIP() << "no usable CUDA device: " << iak_devices_.status();    \
    }                                                                        \
  } while (0)

namespace iak::cuda::testing {

// GPU vs CPU float results: cuBLAS and OpenBLAS sum in different orders,
// so allow float rounding relative to the vector's scale.
inline void ExpectVectorsNear(const std::vector<float>& gpu, const std::vector<float>& cpu,
                              const std::string& what, double rel = 1e-4) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double scale = 0.0;
  for (float v : cpu) scale = std::max(scale, std::abs(static_cast<double>(v)));
  ASSERT_GT(scale, 0.0) << what << " is all zero: the comparison would prove nothing";
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_NEAR(gpu[i], cpu[i], rel * scale + 1e-3 * std::abs(cpu[i]))
        << what << "[" << i << "]";
  }
}

}  // namespace iak::cuda::testing

#endif  // IAK_TESTS_CUDA_GPU_TEST_UTIL_H_
