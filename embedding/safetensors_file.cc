#include "embedding/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "common/file_util.h"
#include "embedding/row_codec.h"

namespace iak::embedding {
namespace {

// The subset of JSON a safetensors header uses (objects, arrays, strings,
// non-negative integers; other numbers, true/false/null parsed and kept as
// kOther so __metadata__ of any shape is skipped).
struct Json {
  enum class Type { kObject, kArray, kString, kInteger, kOther } type = Type::kOther;
  std::vector<std::pair<std::string, std::unique_ptr<Json>>> object;
  std::vector<std::unique_ptr<Json>> array;
  std::string string;
  uint64_t integer = 0;
};

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  StatusOr<std::unique_ptr<Json>> ParseDocument() {
    auto value = std::make_unique<Json>();
    IAK_RETURN_IF_ERROR(Value(value.get(), 0));
    SkipSpace();
    if (pos_ != text_.size()) return Error("text after the JSON header's end");
    return value;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError(path_ + ": malformed safetensors JSON header at byte " +
                                std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && std::strchr(" \t\r\n", text_[pos_]) != nullptr &&
           text_[pos_] != '\0') {
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
  Status String(std::string* out) {
    if (!Consume('"')) return Error("expected a string");
    out->clear();
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        const char e = text_[pos_++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'u': {
            if (pos_ + 4 > text_.size()) return Error("short \\u escape");
            // Exactly four hex digits (std::stoul threw on "\\uZZZZ" and
            // accepted "\\u+1 x").
            unsigned code = 0;
            for (int d = 0; d < 4; ++d) {
              const char h = text_[pos_ + d];
              const int v = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
              if (v < 0) return Error("\\u escape without four hex digits");
              code = code * 16 + static_cast<unsigned>(v);
            }
            pos_ += 4;
            if (code < 0x80) {
              c = static_cast<char>(code);
            } else if (code < 0x800) {
              out->push_back(static_cast<char>(0xc0 | (code >> 6)));
              c = static_cast<char>(0x80 | (code & 0x3f));
            } else {
              out->push_back(static_cast<char>(0xe0 | (code >> 12)));
              out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
              c = static_cast<char>(0x80 | (code & 0x3f));
            }
            break;
          }
          default: c = e;  // \" \\ \/
        }
      }
      out->push_back(c);
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    ++pos_;
    return Status::Ok();
  }
  Status Value(Json* out, int depth) {
    if (depth > 16) return Error("nested too deeply");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      out->type = Json::Type::kObject;
      if (Consume('}')) return Status::Ok();
      do {
        std::string key;
        IAK_RETURN_IF_ERROR(String(&key));
        if (!Consume(':')) return Error("expected ':' after \"" + key + "\"");
        auto value = std::make_unique<Json>();
        IAK_RETURN_IF_ERROR(Value(value.get(), depth + 1));
        out->object.emplace_back(std::move(key), std::move(value));
      } while (Consume(','));
      if (!Consume('}')) return Error("expected ',' or '}'");
      return Status::Ok();
    }
    if (c == '[') {
      ++pos_;
      out->type = Json::Type::kArray;
      if (Consume(']')) return Status::Ok();
      do {
        auto value = std::make_unique<Json>();
        IAK_RETURN_IF_ERROR(Value(value.get(), depth + 1));
        out->array.push_back(std::move(value));
      } while (Consume(','));
      if (!Consume(']')) return Error("expected ',' or ']'");
      return Status::Ok();
    }
    if (c == '"') {
      out->type = Json::Type::kString;
      return String(&out->string);
    }
    if (c >= '0' && c <= '9') {
      out->type = Json::Type::kInteger;
      uint64_t value = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        const uint64_t digit = static_cast<uint64_t>(text_[pos_++] - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
          return Error("integer overflows 64 bits");
        }
        value = value * 10 + digit;
      }
      out->integer = value;
      if (pos_ < text_.size() && std::strchr(".eE", text_[pos_]) != nullptr &&
          text_[pos_] != '\0') {
        out->type = Json::Type::kOther;
        while (pos_ < text_.size() && std::strchr("0123456789.eE+-", text_[pos_]) != nullptr &&
               text_[pos_] != '\0') {
          ++pos_;
        }
      }
      return Status::Ok();
    }
    // Negative numbers, true, false, null: skipped (only __metadata__ may hold them).
    const size_t start = pos_;
    while (pos_ < text_.size() && std::strchr(",}] \t\r\n", text_[pos_]) == nullptr) ++pos_;
    if (pos_ == start) return Error(std::string("unexpected '") + c + "'");
    out->type = Json::Type::kOther;
    return Status::Ok();
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

// Bytes per element, or 0 for an unknown dtype.
size_t DtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

}  // namespace

StatusOr<SafetensorsFile> ParseSafetensors(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 8) {
    return DataLossError(path + ": truncated safetensors file (" + std::to_string(bytes.size()) +
                         " bytes; the header length alone takes 8)");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > bytes.size() - 8) {
    return DataLossError(path + ": truncated safetensors file: the header length is " +
                         std::to_string(header_len) + " bytes but only " +
                         std::to_string(bytes.size() - 8) + " follow (or this is not a "
                         "safetensors file)");
  }
  const std::string header = bytes.substr(8, header_len);
  JsonParser parser(header, path);
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<Json> root, parser.ParseDocument());
  if (root->type != Json::Type::kObject) {
    return InvalidArgumentError(path + ": the safetensors header is not a JSON object");
  }
  SafetensorsFile file;
  file.path = path;
  file.buffer = bytes.substr(8 + header_len);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, value] : root->object) {
    if (name == "__metadata__") continue;
    auto invalid = [&path, &name = name](const std::string& what) {
      return InvalidArgumentError(path + ": tensor \"" + name + "\": " + what);
    };
    if (value->type != Json::Type::kObject) return invalid("its entry is not an object");
    SafetensorsTensor tensor;
    bool have_dtype = false, have_shape = false, have_offsets = false;
    for (const auto& [field, v] : value->object) {
      if (field == "dtype") {
        if (v->type != Json::Type::kString) return invalid("dtype is not a string");
        tensor.dtype = v->string;
        have_dtype = true;
      } else if (field == "shape") {
        if (v->type != Json::Type::kArray) return invalid("shape is not an array");
        for (const auto& d : v->array) {
          if (d->type != Json::Type::kInteger) return invalid("shape holds a non-integer");
          tensor.shape.push_back(d->integer);
        }
        have_shape = true;
      } else if (field == "data_offsets") {
        if (v->type != Json::Type::kArray || v->array.size() != 2 ||
            v->array[0]->type != Json::Type::kInteger ||
            v->array[1]->type != Json::Type::kInteger) {
          return invalid("data_offsets must be [begin, end]");
        }
        tensor.begin = v->array[0]->integer;
        tensor.end = v->array[1]->integer;
        have_offsets = true;
      }
    }
    if (!have_dtype || !have_shape || !have_offsets) {
      return invalid("needs dtype, shape and data_offsets");
    }
    const size_t item = DtypeSize(tensor.dtype);
    if (item == 0) return invalid("unknown dtype \"" + tensor.dtype + "\"");
    uint64_t elements = 1;
    for (uint64_t d : tensor.shape) {
      if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / item / d) {
        return invalid("shape is too large");
      }
      elements *= d;
    }
    if (tensor.end < tensor.begin || tensor.end - tensor.begin != elements * item) {
      return invalid("data_offsets [" + std::to_string(tensor.begin) + ", " +
                     std::to_string(tensor.end) + ") hold " +
                     std::to_string(tensor.end - tensor.begin) + " bytes but dtype " +
                     tensor.dtype + " and its shape need " + std::to_string(elements * item));
    }
    if (tensor.end > file.buffer.size()) {
      return DataLossError(path + ": truncated safetensors file: tensor \"" + name +
                           "\" ends at data byte " + std::to_string(tensor.end) +
                           " but the data has " + std::to_string(file.buffer.size()) + " bytes");
    }
    ranges.emplace_back(tensor.begin, tensor.end);
    file.tensors.emplace(name, std::move(tensor));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      return InvalidArgumentError(path + ": two tensors' data_offsets overlap at byte " +
                                  std::to_string(ranges[i].first));
    }
  }
  return file;
}

StatusOr<SafetensorsFile> ReadSafetensorsFile(const std::string& path) {
  std::string bytes;
  IAK_RETURN_IF_ERROR(ReadFileToString(path, &bytes));
  return ParseSafetensors(bytes, path);
}

StatusOr<const SafetensorsTensor*> SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return &it->second;
  std::string names;
  for (const auto& [n, t] : tensors) names += (names.empty() ? "" : ", ") + n;
  return NotFoundError(path + " has no tensor \"" + name + "\"; it has: " +
                       (names.empty() ? "(none)" : names));
}

StatusOr<std::vector<float>> SafetensorsFile::Floats(const std::string& name) const {
  IAK_ASSIGN_OR_RETURN(const SafetensorsTensor* t, Find(name));
  const char* data = buffer.data() + t->begin;
  const uint64_t bytes = t->end - t->begin;
  std::vector<float> out;
  if (t->dtype == "F32") {
    out.resize(bytes / 4);
    std::memcpy(out.data(), data, bytes);
  } else if (t->dtype == "F16" || t->dtype == "BF16") {
    out.resize(bytes / 2);
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t half;
      std::memcpy(&half, data + 2 * i, 2);
      if (t->dtype == "F16") {
        out[i] = HalfToFloat(half);
      } else {
        const uint32_t bits = uint32_t{half} << 16;
        std::memcpy(&out[i], &bits, 4);
      }
    }
  } else {
    return InvalidArgumentError(path + ": tensor \"" + name + "\" has dtype " + t->dtype +
                                "; embedding rows must be F32, F16 or BF16");
  }
  return out;
}

StatusOr<std::vector<uint64_t>> SafetensorsFile::Keys(const std::string& name) const {
  IAK_ASSIGN_OR_RETURN(const SafetensorsTensor* t, Find(name));
  const char* data = buffer.data() + t->begin;
  const uint64_t bytes = t->end - t->begin;
  const bool is_signed = t->dtype == "I64" || t->dtype == "I32";
  const size_t item = (t->dtype == "U64" || t->dtype == "I64") ? 8
                      : (t->dtype == "U32" || t->dtype == "I32") ? 4 : 0;
  if (item == 0) {
    return InvalidArgumentError(path + ": tensor \"" + name + "\" has dtype " + t->dtype +
                                "; keys must be U64, I64, U32 or I32");
  }
  std::vector<uint64_t> keys(bytes / item);
  for (size_t i = 0; i < keys.size(); ++i) {
    int64_t value;
    if (item == 8) {
      uint64_t v;
      std::memcpy(&v, data + 8 * i, 8);
      keys[i] = v;
      value = static_cast<int64_t>(v);
    } else {
      uint32_t v;
      std::memcpy(&v, data + 4 * i, 4);
      keys[i] = is_signed ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)))
                          : v;
      value = is_signed ? static_cast<int32_t>(v) : static_cast<int64_t>(v);
    }
    if (is_signed && value < 0) {
      return InvalidArgumentError(path + ": tensor \"" + name + "\" element " +
                                  std::to_string(i) + " is negative (" + std::to_string(value) +
                                  "); keys are uint64");
    }
  }
  return keys;
}

}  // namespace iak::embedding
