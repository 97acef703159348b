// Reading NumPy .npy files (format versions 1.0, 2.0 and 3.0): the magic
// "\x93NUMPY", the version, a little-endian header length (2 bytes in v1, 4 in
// v2/v3), then a Python dict literal {'descr': ..., 'fortran_order': ...,
// 'shape': (...)} and the raw array. Only what snapshot import needs is
// accepted: little-endian float32 ('<f4'), float16 ('<f2'), uint64 ('<u8')
// and int64 ('<i8'), in C order; everything else is refused with a message
// naming the file and saying how to convert it.
//
// Thread-safety: pure functions.
#ifndef IAK_EMBEDDING_NPY_FILE_H_
#define IAK_EMBEDDING_NPY_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::embedding {

enum class NpyDtype { kFloat32, kFloat16, kUint64, kInt64 };

struct NpyArray {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<uint64_t> shape;  // () is a scalar, (n,) a vector, (n, d) a matrix
  std::string data;             // the raw little-endian elements, C order

  uint64_t num_elements() const;
};

// Parses the bytes of a whole .npy file; `path` only names it in errors.
// InvalidArgument: not an .npy file, an unsupported version, dtype or
// fortran_order, a malformed header. DataLoss: fewer (truncated) or more data
// bytes than the shape needs.
[[nodiscard]] StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& path);

// Reads and parses `path`. NotFound / IoError as ReadFileToString.
[[nodiscard]] StatusOr<NpyArray> ReadNpyFile(const std::string& path);

// Converts a float32 or float16 array to float32 values.
std::vector<float> NpyToFloats(const NpyArray& array);

// Converts a uint64 or int64 array to keys; InvalidArgument for a negative
// int64 (naming `path` and the element).
[[nodiscard]] StatusOr<std::vector<uint64_t>> NpyToKeys(const NpyArray& array,
                                                        const std::string& path);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_NPY_FILE_H_
