// DrawStandardNormals: n draws of std::normal_distribution<float>(0, 1),
// bit for bit, batched. With libstdc++ that distribution is the Marsaglia
// polar method in float: pairs of uniforms u = generate_canonical<float, 24>
// (one 64-bit draw each), x = 2u - 1, y likewise, rejected unless
// 0 < x^2 + y^2 <= 1; each accepted pair returns y * m and then x * m, with
// m = sqrt(-2 log(r2) / r2). One distribution object is used for all n
// draws (the second value of the last pair is dropped when n is odd), so the
// engine ends where the standard's would.
//
// Batched: the uniforms of up to 256 pairs are drawn at once, the rejection
// is a branch-free compaction and the arithmetic runs over arrays, which
// the compiler vectorizes. Every value is computed by the same float
// operations in the same order as the standard's (logf from libm, no FMA
// contraction on the x86-64 baseline), so results are identical; the test
// (standard_normals_test) compares millions of draws with the standard's.
// With another standard library this calls std::normal_distribution itself.
//
// Thread-safety: reentrant; the engine is the caller's.
#ifndef IAK_MODEL_STANDARD_NORMALS_H_
#define IAK_MODEL_STANDARD_NORMALS_H_

#include <cstddef>
#include <random>

#include "model/mersenne_twister.h"

namespace iak::model {

void DrawStandardNormals(std::mt19937_64* rng, size_t n, float* out);
void DrawStandardNormals(Mt19937_64* rng, size_t n, float* out);

}  // namespace iak::model

#endif  // IAK_MODEL_STANDARD_NORMALS_H_
