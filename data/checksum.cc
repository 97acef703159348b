#include "data/checksum.h"

#include <cstring>

#include "common/keys.h"

namespace iak::data {
namespace {

constexpr uint64_t kPrime = 0x9E3779B185EBCA87ULL;  // odd, so the multiply is a bijection

inline uint64_t Step(uint64_t lane, uint64_t word) {
  lane = (lane ^ word) * kPrime;
  return (lane << 31) | (lane >> 33);
}

}  // namespace

uint64_t Checksum64(const void* data, size_t size, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lanes[4] = {seed ^ 0x243F6A8885A308D3ULL, seed ^ 0x13198A2E03707344ULL,
                       seed ^ 0xA4093822299F31D0ULL, seed ^ 0x082EFA98EC4E6C89ULL};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    uint64_t w[4];
    std::memcpy(w, p + i, 32);
    lanes[0] = Step(lanes[0], w[0]);
    lanes[1] = Step(lanes[1], w[1]);
    lanes[2] = Step(lanes[2], w[2]);
    lanes[3] = Step(lanes[3], w[3]);
  }
  int lane = 0;
  for (; i < size; i += 8, ++lane) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, size - i < 8 ? size - i : 8);
    lanes[lane] = Step(lanes[lane], w);
  }
  uint64_t h = Mix64(size);
  for (uint64_t l : lanes) h = Mix64(h ^ l);
  return h;
}

}  // namespace iak::data
