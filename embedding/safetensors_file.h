// Reading safetensors files: an 8-byte little-endian header length N, N bytes
// of JSON {"<name>": {"dtype": "F32", "shape": [n, d], "data_offsets":
// [begin, end]}, ..., "__metadata__": {...}}, then the byte buffer the
// offsets point into (relative to its start). Every tensor's offsets are
// checked against its dtype and shape and the buffer's size, so a truncated
// or inconsistent file is refused before any value is used.
//
// Thread-safety: pure functions; a SafetensorsFile is immutable.
#ifndef IAK_EMBEDDING_SAFETENSORS_FILE_H_
#define IAK_EMBEDDING_SAFETENSORS_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::embedding {

struct SafetensorsTensor {
  std::string dtype;            // "F32", "F16", "BF16", "U64", "I64", ...
  std::vector<uint64_t> shape;
  uint64_t begin = 0;           // byte offsets into the data buffer
  uint64_t end = 0;
};

struct SafetensorsFile {
  std::string path;
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__" (its string values)
  std::string buffer;  // the data after the header

  // The tensor called `name`; NotFound listing the names there are.
  [[nodiscard]] StatusOr<const SafetensorsTensor*> Find(const std::string& name) const;
  // The tensor's values as float32 (F32, F16 or BF16); InvalidArgument naming
  // the file and tensor for another dtype.
  [[nodiscard]] StatusOr<std::vector<float>> Floats(const std::string& name) const;
  // The tensor's values as uint64 keys (U64, I64 >= 0, U32, I32 >= 0).
  [[nodiscard]] StatusOr<std::vector<uint64_t>> Keys(const std::string& name) const;
};

// Parses the bytes of a whole file; `path` names it in errors.
// InvalidArgument: malformed JSON header, an unknown dtype, offsets that
// disagree with dtype and shape or overlap. DataLoss: the file is shorter than
// its header length or than the data the offsets need.
[[nodiscard]] StatusOr<SafetensorsFile> ParseSafetensors(const std::string& bytes,
                                                         const std::string& path);
[[nodiscard]] StatusOr<SafetensorsFile> ReadSafetensorsFile(const std::string& path);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_SAFETENSORS_FILE_H_
