// LEB128 varints and zigzag coding for the compact shard blocks
// (data/shard_block.h): small non-negative integers take one byte, and a
// reader never reads past the end it is given.
//
// Thread-safety: pure functions and a cursor over caller-owned bytes.
#ifndef IAK_DATA_VARINT_H_
#define IAK_DATA_VARINT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace iak::data {

inline void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

inline void PutU64(uint64_t v, std::string* out) {
  char bytes[8];
  std::memcpy(bytes, &v, 8);
  out->append(bytes, 8);
}

// Reads from [p, end); every getter returns false (and reads nothing more)
// once the bytes run out or a varint is longer than 10 bytes.
class ByteReader {
 public:
  ByteReader(const char* p, size_t size) : p_(p), end_(p + size) {}

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const auto byte = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool U64(uint64_t* v) { return Bytes(v, 8); }
  bool U8(uint8_t* v) { return Bytes(v, 1); }
  bool Bytes(void* out, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  // A view of the next n bytes, skipped over; null when fewer are left.
  const char* Take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return nullptr;
    const char* at = p_;
    p_ += n;
    return at;
  }
  bool done() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace iak::data

#endif  // IAK_DATA_VARINT_H_
