// Mt19937_64: the 64-bit Mersenne Twister (the standard's std::mt19937_64,
// same parameters, same output for the same seed), written so that the
// compiler vectorizes its state refresh and tempering, and with Generate()
// to take many outputs at once. Seeding from a std::seed_seq follows the
// standard's definition ([rand.eng.mers]), so an engine seeded here and a
// std::mt19937_64 seeded with an equal seed_seq give the same stream
// (mersenne_twister_test checks it on millions of outputs).
//
// Why a second engine: the training noise takes about 40,000 64-bit draws
// per batch of 1,024, and libstdc++'s engine (refresh and tempering one
// word at a time) was a third of the noise's cost.
//
// Thread-safety: none; one engine per thread.
#ifndef IAK_MODEL_MERSENNE_TWISTER_H_
#define IAK_MODEL_MERSENNE_TWISTER_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>

namespace iak::model {

class Mt19937_64 {
 public:
  using result_type = uint64_t;
  static constexpr size_t kStateSize = 312;

  // As std::mt19937_64(seed) and std::mt19937_64(seq).
  explicit Mt19937_64(uint64_t seed = std::mt19937_64::default_seed);
  explicit Mt19937_64(std::seed_seq& seq);

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }

  result_type operator()() {
    if (next_ >= kStateSize) Refresh();
    return Temper(state_[next_++]);
  }
  // The next n outputs, in order (as n calls of operator()).
  void Generate(uint64_t* out, size_t n);

 private:
  static uint64_t Temper(uint64_t z) {
    z ^= (z >> 29) & 0x5555555555555555ULL;
    z ^= (z << 17) & 0x71d67fffeda60000ULL;
    z ^= (z << 37) & 0xfff7eee000000000ULL;
    z ^= z >> 43;
    return z;
  }
  void Refresh();  // the next kStateSize words of state (the "twist")

  uint64_t state_[kStateSize];
  size_t next_ = kStateSize;  // next state word to temper
};

}  // namespace iak::model

#endif  // IAK_MODEL_MERSENNE_TWISTER_H_
