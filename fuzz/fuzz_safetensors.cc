// safetensors files (embedding/safetensors_file.h): header length, JSON
// header, tensor byte ranges.
#include <cstdint>

#include "embedding/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)iak::embedding::ParseSafetensors(std::string(reinterpret_cast<const char*>(data), size),
                                         "f.safetensors");
  return 0;
}
