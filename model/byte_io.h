// ByteWriter / ByteReader: the little binary codec behind every model blob
// (base model, IAK module, optimizer state).
//
// Values are written in the host byte order (all supported hosts are
// little-endian). The reader never reads past its input: every Read* returns
// false once the blob is exhausted, so a truncated blob becomes a DataLoss
// status in the caller instead of a crash.
//
// Thread-safety: none; one object per thread.
#ifndef IAK_MODEL_BYTE_IO_H_
#define IAK_MODEL_BYTE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace iak::model {

class ByteWriter {
 public:
  void WriteU32(uint32_t v) { Append(&v, sizeof(v)); }
  void WriteU64(uint64_t v) { Append(&v, sizeof(v)); }
  void WriteI32(int32_t v) { Append(&v, sizeof(v)); }
  void WriteI64(int64_t v) { Append(&v, sizeof(v)); }
  void WriteF32(float v) { Append(&v, sizeof(v)); }
  // Writes the count (u64) followed by the values.
  void WriteInts(const std::vector<int>& v);
  void WriteU64s(const std::vector<uint64_t>& v);
  void WriteFloats(const float* data, size_t n);

  const std::string& bytes() const { return bytes_; }
  std::string Release() { return std::move(bytes_); }

 private:
  void Append(const void* p, size_t n);

  std::string bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}

  [[nodiscard]] bool ReadU32(uint32_t* v) { return Take(v, sizeof(*v)); }
  [[nodiscard]] bool ReadU64(uint64_t* v) { return Take(v, sizeof(*v)); }
  [[nodiscard]] bool ReadI32(int32_t* v) { return Take(v, sizeof(*v)); }
  [[nodiscard]] bool ReadI64(int64_t* v) { return Take(v, sizeof(*v)); }
  [[nodiscard]] bool ReadF32(float* v) { return Take(v, sizeof(*v)); }
  // Reads a WriteInts() list of at most `max_count` entries.
  [[nodiscard]] bool ReadInts(size_t max_count, std::vector<int>* v);
  // Reads a WriteU64s() list; its count is checked against what remains
  // before any allocation.
  [[nodiscard]] bool ReadU64s(std::vector<uint64_t>* v);
  // Reads a WriteFloats() array whose count must equal `expected`; the check
  // happens before any allocation, so a corrupt count cannot exhaust memory.
  [[nodiscard]] bool ReadFloats(size_t expected, std::vector<float>* v);

  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  bool Take(void* p, size_t n);

  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace iak::model

#endif  // IAK_MODEL_BYTE_IO_H_
