// How an embedding row is stored in a snapshot and sent over the wire: as
// float32, as float16, or as int8 with a per-row float32 scale. The encoding
// is chosen at import (`iak snapshot import --dtype=...`), stored as-is in the
// shard, served as-is by the PS, and decoded into float rows only by the
// worker's PsClient (so the PS copies and the network carries 2x or ~3.6x
// fewer bytes than float32 at dim 16).
//
// Encoded row layouts (little-endian):
//   kFloat32: dim float32.
//   kFloat16: dim IEEE 754 binary16, round to nearest even; values beyond
//             the fp16 range become +-inf (import refuses them: see
//             EncodeRow).
//   kInt8:    float32 scale, then dim int8 q with v ~= q * scale,
//             scale = max|v| / 127 (0 for an all-zero row), so the error of
//             every value is at most scale / 2 = max|v| / 254.
//
// Thread-safety: pure functions.
#ifndef IAK_EMBEDDING_ROW_CODEC_H_
#define IAK_EMBEDDING_ROW_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace iak::embedding {

enum class RowDtype { kFloat32 = 0, kFloat16 = 1, kInt8 = 2 };

// "float32", "float16", "int8" (the names the manifest and flags use).
const char* RowDtypeName(RowDtype dtype);
// Accepts the names above plus "fp32", "f32", "fp16", "f16", "half". An empty
// name is float32 (manifests written before quantisation existed).
// InvalidArgument listing the accepted names otherwise.
[[nodiscard]] StatusOr<RowDtype> ParseRowDtype(const std::string& name);

// Bytes of one encoded row of `dim` values.
inline size_t EncodedRowBytes(int dim, RowDtype dtype) {
  switch (dtype) {
    case RowDtype::kFloat16:
      return static_cast<size_t>(dim) * 2;
    case RowDtype::kInt8:
      return sizeof(float) + static_cast<size_t>(dim);
    case RowDtype::kFloat32:
    default:
      return static_cast<size_t>(dim) * sizeof(float);
  }
}

// Encodes `values[0..dim)` into `out` (EncodedRowBytes(dim, dtype) bytes).
// InvalidArgument when a value is not finite, or (float16) beyond its range
// of +-65504: such a row cannot be represented and import must refuse it.
[[nodiscard]] Status EncodeRow(const float* values, int dim, RowDtype dtype, char* out);

// Decodes `n` consecutive encoded rows at `in` into n * dim floats at `out`.
void DecodeRows(const char* in, size_t n, int dim, RowDtype dtype, float* out);

// Scalar float <-> binary16 (round to nearest even; used by the codec and its
// tests).
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t half);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_ROW_CODEC_H_
