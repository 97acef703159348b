// How categorical values become 64-bit embedding keys, and keys become shards.
//
// A key is a hash of (field, value), so two fields never share a row even when
// their raw values coincide (user 7 and movie 7). Shard assignment rehashes the
// key so that shards stay balanced whatever the key distribution.
#ifndef IAK_COMMON_KEYS_H_
#define IAK_COMMON_KEYS_H_

#include <cstdint>
#include <string_view>

namespace iak {

// SplitMix64 finaliser: a fast bijective mixer of 64-bit values.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A float uniform in [0, 1) from a hash (its top 24 bits: an exact grid),
// for counter-based draws that need no generator state.
inline float HashToUnitFloat(uint64_t hash) {
  return static_cast<float>(hash >> 40) * (1.0f / 16777216.0f);
}

// FNV-1a over bytes, for string-valued features.
inline uint64_t HashBytes(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The embedding key of `value` in field `field`.
inline uint64_t FeatureKey(uint32_t field, uint64_t value) {
  return Mix64(Mix64(static_cast<uint64_t>(field) + 1) ^ value);
}

// The shard (0..num_shards-1) that holds `key`.
inline int ShardOfKey(uint64_t key, int num_shards) {
  return static_cast<int>(Mix64(key ^ 0x5bd1e995ULL) % static_cast<uint64_t>(num_shards));
}

}  // namespace iak

#endif  // IAK_COMMON_KEYS_H_
