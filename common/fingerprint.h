// FNV-1a over 64-bit values, byte by byte (little end first): the
// fingerprints checkpoints compare to refuse state of another key set.
//
// Thread-safety: pure functions.
#ifndef IAK_COMMON_FINGERPRINT_H_
#define IAK_COMMON_FINGERPRINT_H_

#include <cstdint>
#include <vector>

namespace iak {

inline constexpr uint64_t kFnvOffsetBasis = 1469598103934665603ULL;

inline uint64_t FnvMix(uint64_t h, uint64_t v) {
  for (int b = 0; b < 8; ++b) {
    h ^= (v >> (8 * b)) & 0xff;
    h *= 1099511628211ULL;
  }
  return h;
}

// The fingerprint of `first` (a width or a tag) followed by `keys`.
inline uint64_t KeyListFingerprint(uint64_t first, const std::vector<uint64_t>& keys) {
  uint64_t h = FnvMix(kFnvOffsetBasis, first);
  for (uint64_t key : keys) h = FnvMix(h, key);
  return h;
}

}  // namespace iak

#endif  // IAK_COMMON_FINGERPRINT_H_
