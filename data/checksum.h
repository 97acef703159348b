// A fast 64-bit checksum for data shards: four independent multiply-rotate
// lanes over 8-byte words (several GB/s on one core), finished with Mix64.
// Every single-word change changes its lane's state (each step is a
// bijection), so a flipped or zeroed block is always caught; it is not a
// cryptographic hash.
//
// Thread-safety: pure function.
#ifndef IAK_DATA_CHECKSUM_H_
#define IAK_DATA_CHECKSUM_H_

#include <cstddef>
#include <cstdint>

namespace iak::data {

uint64_t Checksum64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace iak::data

#endif  // IAK_DATA_CHECKSUM_H_
