#include "embedding/npy_file.h"

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

size_t ItemSize(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat16:
      return 2;
    case NpyDtype::kFloat32:
      return 4;
    default:
      return 8;
  }
}

}  // namespace

uint64_t NpyArray::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& path) {
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
  NpyArray array;
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
  const size_t item = ItemSize(array.dtype);
  uint64_t elements = 1;
  for (uint64_t d : array.shape) {
    if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / item / d) {
      return invalid("shape is too large");
    }
    elements *= d;
  }
  const uint64_t expected = elements * item;
  const uint64_t actual = bytes.size() - header_start - header_len;
  if (actual != expected) {
    return DataLossError(path + ": " + (actual < expected ? "truncated" : "trailing bytes in") +
                         " .npy file: shape and dtype '" + descr + "' need " +
                         std::to_string(expected) + " data bytes, the file has " +
                         std::to_string(actual));
  }
  array.data = bytes.substr(header_start + header_len);
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
