#include "embedding/row_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace iak::embedding {
namespace {

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void DecodeHalfScalar(const uint16_t* in, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = HalfToFloat(in[i]);
}

#if defined(__x86_64__)
// F16C converts 8 halves per instruction; chosen at run time so the binary
// still runs on CPUs without it.
__attribute__((target("avx,f16c"))) void DecodeHalfF16c(const uint16_t* in, size_t count,
                                                         float* out) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  DecodeHalfScalar(in + i, count - i, out + i);
}

bool HasF16c() {
  // F16C from CPUID leaf 1 (clang's __builtin_cpu_supports does not know
  // "f16c"); "avx" also says the OS saves the AVX registers.
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (ecx & bit_F16C) != 0 && __builtin_cpu_supports("avx");
  }();
  return has;
}
#endif

void DecodeHalf(const uint16_t* in, size_t count, float* out) {
#if defined(__x86_64__)
  if (HasF16c()) {
    DecodeHalfF16c(in, count, out);
    return;
  }
#endif
  DecodeHalfScalar(in, count, out);
}

}  // namespace

const char* RowDtypeName(RowDtype dtype) {
  switch (dtype) {
    case RowDtype::kFloat16:
      return "float16";
    case RowDtype::kInt8:
      return "int8";
    case RowDtype::kFloat32:
    default:
      return "float32";
  }
}

StatusOr<RowDtype> ParseRowDtype(const std::string& name) {
  if (name.empty() || name == "float32" || name == "fp32" || name == "f32") {
    return RowDtype::kFloat32;
  }
  if (name == "float16" || name == "fp16" || name == "f16" || name == "half") {
    return RowDtype::kFloat16;
  }
  if (name == "int8") return RowDtype::kInt8;
  return InvalidArgumentError("unknown row dtype '" + name +
                              "'; use float32 (fp32), float16 (fp16) or int8");
}

uint16_t FloatToHalf(float value) {
  const uint32_t f = FloatBits(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs < 0x38800000u) {
    // Subnormal half (or zero): add 0.5 so the FPU's round-to-nearest-even on
    // the float add does the rounding at the half's last subnormal bit.
    const float shifted = BitsFloat(abs) + 0.5f;
    return static_cast<uint16_t>(sign | (FloatBits(shifted) - 0x3f000000u));
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to even.
  const uint32_t odd = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xc8000fffu + odd;  // -(112 << 23) + 0xfff + odd
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exp = (half >> 10) & 0x1fu;
  const uint32_t mant = half & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24.
    const float magnitude = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exp == 31) return BitsFloat(sign | 0x7f800000u | (mant << 13));
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

Status EncodeRow(const float* values, int dim, RowDtype dtype, char* out) {
  for (int i = 0; i < dim; ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidArgumentError("value " + std::to_string(i) + " of the row is not finite (" +
                                  std::to_string(values[i]) + ")");
    }
  }
  switch (dtype) {
    case RowDtype::kFloat32:
      std::memcpy(out, values, static_cast<size_t>(dim) * sizeof(float));
      return Status::Ok();
    case RowDtype::kFloat16:
      for (int i = 0; i < dim; ++i) {
        if (std::fabs(values[i]) > 65504.0f) {
          return InvalidArgumentError("value " + std::to_string(i) + " of the row (" +
                                      std::to_string(values[i]) +
                                      ") is beyond float16's range of +-65504; import as "
                                      "float32 or int8");
        }
        const uint16_t h = FloatToHalf(values[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return Status::Ok();
    case RowDtype::kInt8: {
      float max_abs = 0.0f;
      for (int i = 0; i < dim; ++i) max_abs = std::max(max_abs, std::fabs(values[i]));
      const float scale = max_abs / 127.0f;
      std::memcpy(out, &scale, sizeof(float));
      for (int i = 0; i < dim; ++i) {
        const float q = scale == 0.0f ? 0.0f : std::nearbyint(values[i] / scale);
        out[sizeof(float) + i] = static_cast<char>(static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f)));
      }
      return Status::Ok();
    }
  }
  return InvalidArgumentError("unknown row dtype");
}

void DecodeRows(const char* in, size_t n, int dim, RowDtype dtype, float* out) {
  switch (dtype) {
    case RowDtype::kFloat32:
      std::memcpy(out, in, n * static_cast<size_t>(dim) * sizeof(float));
      return;
    case RowDtype::kFloat16: {
      // Rows are contiguous, so the whole block converts as one array. The
      // input is not necessarily 2-byte aligned: DecodeHalf uses unaligned loads
      // in the vector path; the scalar tail goes through memcpy.
      const size_t count = n * static_cast<size_t>(dim);
      if (reinterpret_cast<uintptr_t>(in) % alignof(uint16_t) == 0) {
        DecodeHalf(reinterpret_cast<const uint16_t*>(in), count, out);
      } else {
        for (size_t i = 0; i < count; ++i) {
          uint16_t h;
          std::memcpy(&h, in + 2 * i, 2);
          out[i] = HalfToFloat(h);
        }
      }
      return;
    }
    case RowDtype::kInt8: {
      const size_t row_bytes = EncodedRowBytes(dim, dtype);
      for (size_t r = 0; r < n; ++r) {
        const char* row = in + r * row_bytes;
        float scale;
        std::memcpy(&scale, row, sizeof(float));
        const int8_t* q = reinterpret_cast<const int8_t*>(row + sizeof(float));
        float* o = out + r * static_cast<size_t>(dim);
        for (int i = 0; i < dim; ++i) o[i] = static_cast<float>(q[i]) * scale;
      }
      return;
    }
  }
}

}  // namespace iak::embedding
