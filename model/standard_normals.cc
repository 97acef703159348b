#include "model/standard_normals.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace iak::model {
namespace {

#if defined(__GLIBCXX__)

// static_cast<float>(u) (round to nearest), without the compiler's branch
// on the top bit, which is random here and so mispredicted half the time.
// From 2^63 up it is the compiler's own sequence: convert u / 2 keeping the
// dropped bit as a sticky bit (the rounding stays right), then double.
inline float ToFloat(uint64_t u) {
  const uint64_t top = u >> 63;
  const uint64_t half = (u >> 1) | (u & 1);
  const float f = static_cast<float>(static_cast<int64_t>(u ^ ((u ^ half) & (uint64_t{0} - top))));
  return f * (1.0f + static_cast<float>(top));  // exact: times 1 or 2
}

// libstdc++'s generate_canonical<float, 24> of one 64-bit draw: the draw
// rounded to float, times 2^-64 (exact), kept below 1.
inline float Canonical(uint64_t draw) {
  float u = ToFloat(draw) * 0x1p-64f;
  if (__builtin_expect(u >= 1.0f, 0)) u = std::nextafter(1.0f, 0.0f);
  return u;
}

// `draw` fills its array with the engine's next outputs, in order.
template <typename Fill>
void PolarNormals(Fill draw, size_t n, float* out) {
  constexpr size_t kPairs = 256;
  uint64_t raw[2 * kPairs];
  float xs[kPairs], ys[kPairs], r2s[kPairs];
  size_t done = 0;
  while (done < n) {
    // Never more pairs than the outputs still wanted need, so the engine is
    // not advanced past where the standard's loop would stop.
    const size_t pairs = std::min(kPairs, (n - done + 1) / 2);
    draw(raw, 2 * pairs);
    size_t kept = 0;
    for (size_t i = 0; i < pairs; ++i) {
      // As the standard writes it: float times float, minus the double 1.0.
      const float x = 2.0f * Canonical(raw[2 * i]) - 1.0;
      const float y = 2.0f * Canonical(raw[2 * i + 1]) - 1.0;
      const float r2 = x * x + y * y;
      xs[kept] = x;
      ys[kept] = y;
      r2s[kept] = r2;
      // The standard rejects r2 > 1 or r2 == 0; & (not ||): no branch.
      kept += static_cast<size_t>((r2 <= 1.0f) & (r2 != 0.0f));
    }
    for (size_t j = 0; j < kept; ++j) r2s[j] = -2 * std::log(r2s[j]) / r2s[j];
    for (size_t j = 0; j < kept; ++j) {
      const float mult = std::sqrt(r2s[j]);
      // ret * stddev + mean, as the standard does, with (0, 1).
      ys[j] = ys[j] * mult * 1.0f + 0.0f;
      xs[j] = xs[j] * mult * 1.0f + 0.0f;
    }
    for (size_t j = 0; j < kept && done < n; ++j) {
      out[done++] = ys[j];
      if (done < n) out[done++] = xs[j];
    }
  }
}

#else  // another standard library: its own distribution

template <typename Engine>
void StdNormals(Engine* rng, size_t n, float* out) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) out[i] = normal(*rng);
}

#endif

}  // namespace

void DrawStandardNormals(std::mt19937_64* rng, size_t n, float* out) {
#if defined(__GLIBCXX__)
  PolarNormals(
      [rng](uint64_t* raw, size_t count) {
        for (size_t i = 0; i < count; ++i) raw[i] = (*rng)();
      },
      n, out);
#else
  StdNormals(rng, n, out);
#endif
}

void DrawStandardNormals(Mt19937_64* rng, size_t n, float* out) {
#if defined(__GLIBCXX__)
  PolarNormals([rng](uint64_t* raw, size_t count) { rng->Generate(raw, count); }, n, out);
#else
  StdNormals(rng, n, out);
#endif
}

}  // namespace iak::model
