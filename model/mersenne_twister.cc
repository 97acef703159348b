#include "model/mersenne_twister.h"

#include <algorithm>

namespace iak::model {
namespace {

constexpr size_t kN = Mt19937_64::kStateSize;
constexpr size_t kM = 156;
constexpr uint64_t kMatrixA = 0xb5026f5aa96619e9ULL;
constexpr uint64_t kUpperMask = ~uint64_t{0} << 31;
constexpr uint64_t kLowerMask = ~kUpperMask;

// One word of the twist: the upper bit of `a`, the lower 31 of `b`, mixed
// into `far`. Branch-free (the standard's `y & 1 ? a : 0`) so it vectorizes.
inline uint64_t Twist(uint64_t a, uint64_t b, uint64_t far) {
  const uint64_t y = (a & kUpperMask) | (b & kLowerMask);
  return far ^ (y >> 1) ^ ((uint64_t{0} - (y & 1)) & kMatrixA);
}

}  // namespace

Mt19937_64::Mt19937_64(uint64_t seed) {
  // [rand.eng.mers]: x_i = f * (x_{i-1} xor (x_{i-1} >> (w - 2))) + i.
  state_[0] = seed;
  for (size_t i = 1; i < kN; ++i) {
    state_[i] = 6364136223846793005ULL * (state_[i - 1] ^ (state_[i - 1] >> 62)) + i;
  }
}

Mt19937_64::Mt19937_64(std::seed_seq& seq) {
  // [rand.eng.mers]: 2 x 32-bit words of seq.generate per state word, low
  // first; an all-zero state (upper bits of word 0, then the rest) becomes
  // 2^63 in word 0.
  uint32_t words[2 * kN];
  seq.generate(words, words + 2 * kN);
  bool zero = true;
  for (size_t i = 0; i < kN; ++i) {
    state_[i] = uint64_t{words[2 * i]} | (uint64_t{words[2 * i + 1]} << 32);
    zero = zero && (i == 0 ? (state_[0] & kUpperMask) == 0 : state_[i] == 0);
  }
  if (zero) state_[0] = uint64_t{1} << 63;
}

void Mt19937_64::Refresh() {
  // Three runs with no dependence inside a vector's width: words [0, N-M)
  // read words not yet refreshed, [N-M, N-1) read refreshed ones M back.
  for (size_t k = 0; k < kN - kM; ++k) state_[k] = Twist(state_[k], state_[k + 1], state_[k + kM]);
  for (size_t k = kN - kM; k < kN - 1; ++k) {
    state_[k] = Twist(state_[k], state_[k + 1], state_[k - (kN - kM)]);
  }
  state_[kN - 1] = Twist(state_[kN - 1], state_[0], state_[kM - 1]);
  next_ = 0;
}

void Mt19937_64::Generate(uint64_t* out, size_t n) {
  while (n > 0) {
    if (next_ >= kN) Refresh();
    const size_t take = std::min(n, kN - next_);
    const uint64_t* from = state_ + next_;
    for (size_t i = 0; i < take; ++i) out[i] = Temper(from[i]);
    next_ += take;
    out += take;
    n -= take;
  }
}

}  // namespace iak::model
