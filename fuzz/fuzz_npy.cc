// NumPy .npy files (embedding/npy_file.h), versions 1.0, 2.0 and 3.0.
#include <cstdint>

#include "embedding/npy_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)iak::embedding::ParseNpy(std::string(reinterpret_cast<const char*>(data), size), "f.npy");
  return 0;
}
