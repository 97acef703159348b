// Reading NumPy .npy files (format versions 1.0, 2.0 and 3.0): the magic
// "\x93NUMPY", the version, a little-endian header length (2 bytes in v1, 4 in
// v2/v3), then a Python dict literal {'descr': ..., 'fortran_order': ...,
// 'shape': (...)} and the raw array. Only what snapshot import needs is
// accepted: little-endian float32 ('<f4'), float16 ('<f2'), uint64 ('<u8')
// and int64 ('<i8'), in C order; everything else is refused with a message
// naming the file and saying how to convert it.
//
// Thread-safety: pure functions.
#ifndef IAK_EMBEDDING_NPY_FILE_H_
#define IAK_EMBEDDING_NPY_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::embedding {

enum class NpyDtype { kFloat32, kFloat16, kUint64, kInt64 };

struct NpyArray {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<uint64_t> shape;  // () is a scalar, (n,) a vector, (n, d) a matrix
  std::string data;             // the raw little-endian elements, C order

  uint64_t num_elements() const;
};

// What an .npy header says, and where the data starts.
struct NpyHeader {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<uint64_t> shape;
  uint64_t data_offset = 0;  // bytes before the first element

  uint64_t num_elements() const;
};

// Bytes of one element.
size_t NpyItemSize(NpyDtype dtype);

// Parses the header at the start of `bytes` (at least the whole header) of an
// .npy file of `file_size` bytes. Errors as ParseNpy.
[[nodiscard]] StatusOr<NpyHeader> ParseNpyHeader(const std::string& bytes, uint64_t file_size,
                                                 const std::string& path);

// An .npy file read in pieces, for arrays larger than memory: the header is
// parsed and the file's size checked against it at Open (errors as ParseNpy,
// NotFound / IoError when it cannot be opened); elements are then read by
// position. Thread-safety: ReadElements may be called from any thread.
class NpyFileReader {
 public:
  [[nodiscard]] static StatusOr<std::unique_ptr<NpyFileReader>> Open(const std::string& path);
  ~NpyFileReader();
  NpyFileReader(const NpyFileReader&) = delete;
  NpyFileReader& operator=(const NpyFileReader&) = delete;

  const NpyHeader& header() const { return header_; }
  const std::string& path() const { return path_; }

  // Copies elements [first, first + count) raw (little-endian, C order) to
  // `out` (count * NpyItemSize bytes). InvalidArgument beyond the array;
  // IoError / DataLoss when the file cannot be read (it shrank).
  [[nodiscard]] Status ReadElements(uint64_t first, uint64_t count, char* out) const;

 private:
  NpyFileReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  [[nodiscard]] Status ReadAt(uint64_t offset, size_t size, char* out) const;

  std::string path_;
  int fd_;
  NpyHeader header_;
};

// Parses the bytes of a whole .npy file; `path` only names it in errors.
// InvalidArgument: not an .npy file, an unsupported version, dtype or
// fortran_order, a malformed header. DataLoss: fewer (truncated) or more data
// bytes than the shape needs.
[[nodiscard]] StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& path);

// Reads and parses `path`. NotFound / IoError as ReadFileToString.
[[nodiscard]] StatusOr<NpyArray> ReadNpyFile(const std::string& path);

// Converts a float32 or float16 array to float32 values.
std::vector<float> NpyToFloats(const NpyArray& array);

// Converts a uint64 or int64 array to keys; InvalidArgument for a negative
// int64 (naming `path` and the element).
[[nodiscard]] StatusOr<std::vector<uint64_t>> NpyToKeys(const NpyArray& array,
                                                        const std::string& path);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_NPY_FILE_H_
