#include "model/byte_io.h"

#include <cstring>

namespace iak::model {

void ByteWriter::Append(const void* p, size_t n) {
  bytes_.append(static_cast<const char*>(p), n);
}

void ByteWriter::WriteInts(const std::vector<int>& v) {
  WriteU64(v.size());
  for (int x : v) WriteI32(x);
}

void ByteWriter::WriteU64s(const std::vector<uint64_t>& v) {
  WriteU64(v.size());
  Append(v.data(), v.size() * sizeof(uint64_t));
}

void ByteWriter::WriteFloats(const float* data, size_t n) {
  WriteU64(n);
  Append(data, n * sizeof(float));
}

bool ByteReader::Take(void* p, size_t n) {
  if (remaining() < n) return false;
  if (n == 0) return true;  // p may be an empty vector's null data()
  std::memcpy(p, bytes_.data() + pos_, n);
  pos_ += n;
  return true;
}

bool ByteReader::ReadInts(size_t max_count, std::vector<int>* v) {
  uint64_t n = 0;
  if (!ReadU64(&n) || n > max_count || n * sizeof(int32_t) > remaining()) {
    return false;
  }
  v->resize(n);
  for (auto& x : *v) {
    int32_t i = 0;
    if (!ReadI32(&i)) return false;
    x = i;
  }
  return true;
}

bool ByteReader::ReadU64s(std::vector<uint64_t>* v) {
  uint64_t n = 0;
  if (!ReadU64(&n) || remaining() / sizeof(uint64_t) < n) return false;
  v->resize(n);
  return Take(v->data(), n * sizeof(uint64_t));
}

bool ByteReader::ReadFloats(size_t expected, std::vector<float>* v) {
  uint64_t n = 0;
  if (!ReadU64(&n) || n != expected || remaining() / sizeof(float) < n) {
    return false;
  }
  v->resize(n);
  return Take(v->data(), n * sizeof(float));
}

}  // namespace iak::model
