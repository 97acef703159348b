// Row codecs (embedding/row_codec.h): stored or received rows of any bytes
// decode to floats for every dtype and width; encoding them back must fit.
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "embedding/row_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto dtype = static_cast<iak::embedding::RowDtype>(data[0] % 3);
  const int dim = 1 + data[1] % 64;
  (void)iak::embedding::ParseRowDtype(
      std::string(reinterpret_cast<const char*>(data + 2), std::min<size_t>(size - 2, 16)));
  const size_t row_bytes = iak::embedding::EncodedRowBytes(dim, dtype);
  const size_t n = (size - 2) / row_bytes;
  if (n == 0) return 0;
  std::vector<float> out(n * static_cast<size_t>(dim));
  iak::embedding::DecodeRows(reinterpret_cast<const char*>(data + 2), n, dim, dtype, out.data());
  std::vector<char> encoded(row_bytes);
  (void)iak::embedding::EncodeRow(out.data(), dim, dtype, encoded.data());
  return 0;
}
