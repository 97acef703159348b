#include "embedding/npy_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "common/file_util.h"
#include "embedding/row_codec.h"

namespace iak::embedding {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

// A cursor over the header's Python dict literal.
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool String(std::string* out) {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string::npos) return false;
    *out = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }
  bool Word(const char* word) {
    SkipSpace();
    const size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }
  bool Integer(uint64_t* out) {
    SkipSpace();
    size_t start = pos_;
    uint64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
      value = value * 10 + digit;
      ++pos_;
    }
    // Python 2 era writers append 'L' to longs.
    if (pos_ > start && pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    *out = value;
    return pos_ > start;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& text_;
  size_t pos_ = 0;
};

}  // namespace

size_t NpyItemSize(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat16:
      return 2;
    case NpyDtype::kFloat32:
      return 4;
    default:
      return 8;
  }
}

uint64_t NpyArray::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

uint64_t NpyHeader::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

StatusOr<NpyHeader> ParseNpyHeader(const std::string& bytes, uint64_t file_size,
                                   const std::string& path) {
  auto invalid = [&path](const std::string& what) {
    return InvalidArgumentError(path + ": " + what);
  };
  if (bytes.size() < kMagicSize + 2 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    return invalid("not a NumPy .npy file (no \\x93NUMPY magic at the start); write it with "
                   "numpy.save");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    if (bytes.size() < 10) return DataLossError(path + ": truncated .npy header");
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return DataLossError(path + ": truncated .npy header");
    for (int i = 3; i >= 0; --i) {
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
    }
    header_start = 12;
  } else {
    return invalid(".npy format version " + std::to_string(major) + "." +
                   std::to_string(static_cast<unsigned char>(bytes[7])) +
                   " is not supported (1.0, 2.0 and 3.0 are)");
  }
  if (bytes.size() < header_start + header_len) {
    return DataLossError(path + ": truncated .npy file: the header announces " +
                         std::to_string(header_len) + " bytes but the file has " +
                         std::to_string(bytes.size()) + " in all");
  }
  const std::string header = bytes.substr(header_start, header_len);

  std::string descr;
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  NpyHeader array;
  HeaderParser p(header);
  auto malformed = [&](const std::string& what) {
    return invalid("malformed .npy header at byte " + std::to_string(p.pos()) + " (" + what +
                   "): " + header);
  };
  if (!p.Consume('{')) return malformed("expected '{'");
  while (!p.Consume('}')) {
    std::string key;
    if (!p.String(&key)) return malformed("expected a quoted key");
    if (!p.Consume(':')) return malformed("expected ':' after '" + key + "'");
    if (key == "descr") {
      if (!p.String(&descr)) return malformed("descr must be a string such as '<f4'");
      have_descr = true;
    } else if (key == "fortran_order") {
      if (p.Word("True")) {
        fortran = true;
      } else if (!p.Word("False")) {
        return malformed("fortran_order must be True or False");
      }
      have_order = true;
    } else if (key == "shape") {
      if (!p.Consume('(')) return malformed("shape must be a tuple");
      while (!p.Consume(')')) {
        uint64_t dim = 0;
        if (!p.Integer(&dim)) return malformed("shape entries must be non-negative integers");
        array.shape.push_back(dim);
        if (!p.Consume(',') && !p.Peek(')')) return malformed("expected ',' or ')' in shape");
      }
      have_shape = true;
    } else {
      return malformed("unknown key '" + key + "'");
    }
    if (!p.Consume(',') && !p.Peek('}')) return malformed("expected ',' or '}'");
  }
  if (!have_descr || !have_order || !have_shape) {
    return malformed("it needs descr, fortran_order and shape");
  }
  if (descr == "<f4" || descr == "=f4") {
    array.dtype = NpyDtype::kFloat32;
  } else if (descr == "<f2" || descr == "=f2") {
    array.dtype = NpyDtype::kFloat16;
  } else if (descr == "<u8" || descr == "=u8") {
    array.dtype = NpyDtype::kUint64;
  } else if (descr == "<i8" || descr == "=i8") {
    array.dtype = NpyDtype::kInt64;
  } else {
    return invalid("dtype '" + descr +
                   "' is not supported; rows must be little-endian float32 ('<f4') or float16 "
                   "('<f2'), keys uint64 ('<u8') or int64 ('<i8'): convert with "
                   "array.astype('<f4') or array.astype('<u8')");
  }
  if (fortran && array.shape.size() > 1) {
    return invalid("the array is in Fortran (column-major) order; save "
                   "numpy.ascontiguousarray(array) instead");
  }
  const size_t item = NpyItemSize(array.dtype);
  uint64_t elements = 1;
  for (uint64_t d : array.shape) {
    if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / item / d) {
      return invalid("shape is too large");
    }
    elements *= d;
  }
  const uint64_t expected = elements * item;
  const uint64_t actual = file_size - header_start - header_len;
  if (actual != expected) {
    return DataLossError(path + ": " + (actual < expected ? "truncated" : "trailing bytes in") +
                         " .npy file: shape and dtype '" + descr + "' need " +
                         std::to_string(expected) + " data bytes, the file has " +
                         std::to_string(actual));
  }
  array.data_offset = header_start + header_len;
  return array;
}

StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& path) {
  IAK_ASSIGN_OR_RETURN(NpyHeader header, ParseNpyHeader(bytes, bytes.size(), path));
  NpyArray array;
  array.dtype = header.dtype;
  array.shape = std::move(header.shape);
  array.data = bytes.substr(header.data_offset);
  return array;
}

StatusOr<NpyArray> ReadNpyFile(const std::string& path) {
  std::string bytes;
  IAK_RETURN_IF_ERROR(ReadFileToString(path, &bytes));
  return ParseNpy(bytes, path);
}

std::vector<float> NpyToFloats(const NpyArray& array) {
  const uint64_t n = array.num_elements();
  std::vector<float> out(n);
  if (array.dtype == NpyDtype::kFloat32) {
    std::memcpy(out.data(), array.data.data(), n * sizeof(float));
  } else {
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t half;
      std::memcpy(&half, array.data.data() + 2 * i, 2);
      out[i] = HalfToFloat(half);
    }
  }
  return out;
}

StatusOr<std::vector<uint64_t>> NpyToKeys(const NpyArray& array, const std::string& path) {
  const uint64_t n = array.num_elements();
  std::vector<uint64_t> keys(n);
  std::memcpy(keys.data(), array.data.data(), n * sizeof(uint64_t));
  if (array.dtype == NpyDtype::kInt64) {
    for (uint64_t i = 0; i < n; ++i) {
      if (static_cast<int64_t>(keys[i]) < 0) {
        return InvalidArgumentError(path + ": key " + std::to_string(i) + " is negative (" +
                                    std::to_string(static_cast<int64_t>(keys[i])) +
                                    "); keys are uint64");
      }
    }
  }
  return keys;
}

}  // namespace iak::embedding

namespace iak::embedding {

StatusOr<std::unique_ptr<NpyFileReader>> NpyFileReader::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError("cannot open " + path + ": no such file");
    return IoError("cannot open " + path + ": " + std::strerror(err));
  }
  std::unique_ptr<NpyFileReader> reader(new NpyFileReader(path, fd));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return IoError("cannot stat " + path + ": " + std::strerror(errno));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  // The fixed part (magic, version, header length), then the whole header.
  std::string prefix(static_cast<size_t>(std::min<uint64_t>(file_size, 12)), '\0');
  IAK_RETURN_IF_ERROR(reader->ReadAt(0, prefix.size(), prefix.data()));
  if (prefix.size() >= 10) {
    const int major = static_cast<unsigned char>(prefix[6]);
    uint64_t header_end = 10 + (static_cast<unsigned char>(prefix[8]) |
                                (static_cast<uint64_t>(static_cast<unsigned char>(prefix[9])) << 8));
    if ((major == 2 || major == 3) && prefix.size() >= 12) {
      uint64_t len = 0;
      for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(prefix[8 + i]);
      header_end = 12 + len;
    }
    prefix.resize(static_cast<size_t>(std::min(file_size, header_end)));
    IAK_RETURN_IF_ERROR(reader->ReadAt(0, prefix.size(), prefix.data()));
  }
  IAK_ASSIGN_OR_RETURN(reader->header_, ParseNpyHeader(prefix, file_size, path));
  return reader;
}

NpyFileReader::~NpyFileReader() { ::close(fd_); }

Status NpyFileReader::ReadAt(uint64_t offset, size_t size, char* out) const {
  while (size > 0) {
    const ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read " + path_ + ": " + std::strerror(errno));
    if (n == 0) return DataLossError(path_ + ": the file ended early (truncated while read?)");
    out += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status NpyFileReader::ReadElements(uint64_t first, uint64_t count, char* out) const {
  const size_t item = NpyItemSize(header_.dtype);
  if (first + count > header_.num_elements()) {
    return InvalidArgumentError(path_ + ": elements " + std::to_string(first) + ".." +
                                std::to_string(first + count) + " are beyond its " +
                                std::to_string(header_.num_elements()));
  }
  return ReadAt(header_.data_offset + first * item, static_cast<size_t>(count * item), out);
}

}  // namespace iak::embedding
