#include "embedding/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "embedding/row_codec.h"

namespace iak::embedding {
namespace {

// A JSON number that is a whole number in [0, 2^53] (where doubles are
// exact: far past any file's size), as uint64.
bool ExactCount(const JsonValue& v, uint64_t* out) {
  if (v.kind() != JsonValue::Kind::kNumber) return false;
  const double d = v.Number();
  if (!(d >= 0) || d > 9007199254740992.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

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
  StatusOr<JsonValue> root = ParseJson(bytes.substr(8, header_len));
  if (!root.ok()) {
    return InvalidArgumentError(path + ": malformed safetensors JSON header: " +
                                root.status().message());
  }
  if (root->kind() != JsonValue::Kind::kObject) {
    return InvalidArgumentError(path + ": the safetensors header is not a JSON object");
  }
  SafetensorsFile file;
  file.path = path;
  file.buffer = bytes.substr(8 + header_len);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, value] : root->Object()) {
    if (name == "__metadata__") {  // string values only, by the format
      for (const auto& [key, entry] : value.Object()) {
        if (entry.kind() == JsonValue::Kind::kString) file.metadata[key] = entry.String();
      }
      continue;
    }
    auto invalid = [&path, &name = name](const std::string& what) {
      return InvalidArgumentError(path + ": tensor \"" + name + "\": " + what);
    };
    if (value.kind() != JsonValue::Kind::kObject) return invalid("its entry is not an object");
    if (!value.Has("dtype") || !value.Has("shape") || !value.Has("data_offsets")) {
      return invalid("needs dtype, shape and data_offsets");
    }
    SafetensorsTensor tensor;
    if (value["dtype"].kind() != JsonValue::Kind::kString) return invalid("dtype is not a string");
    tensor.dtype = value["dtype"].String();
    if (value["shape"].kind() != JsonValue::Kind::kArray) return invalid("shape is not an array");
    for (const JsonValue& d : value["shape"].Array()) {
      uint64_t extent = 0;
      if (!ExactCount(d, &extent)) return invalid("shape holds a non-integer");
      tensor.shape.push_back(extent);
    }
    const std::vector<JsonValue>& offsets = value["data_offsets"].Array();
    if (offsets.size() != 2 || !ExactCount(offsets[0], &tensor.begin) ||
        !ExactCount(offsets[1], &tensor.end)) {
      return invalid("data_offsets must be [begin, end]");
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
