// A tiny JSON reader for the files this project writes itself (results.json,
// validation.json) and reads back for reports: a value tree, no writer, no
// streaming. Numbers are doubles; `null` is its own kind (the writers spell
// NaN as null). Strings: the escapes of RFC 8259, \u as UTF-8 (a surrogate
// pair joined).
//
// Thread-safety: values; ParseJson is a pure function.
#ifndef IAK_COMMON_JSON_READER_H_
#define IAK_COMMON_JSON_READER_H_

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }

  // Each accessor returns the value when it is of that kind, else `fallback`
  // (an empty array/object): readers check kind() where it matters.
  bool Bool(bool fallback = false) const { return kind_ == Kind::kBool ? bool_ : fallback; }
  double Number(double fallback = 0) const { return kind_ == Kind::kNumber ? number_ : fallback; }
  const std::string& String() const { return string_; }
  const std::vector<JsonValue>& Array() const { return array_; }
  const std::map<std::string, JsonValue>& Object() const { return object_; }
  // The member `key` of an object; a null value when absent (or not an object).
  const JsonValue& operator[](const std::string& key) const;
  bool Has(const std::string& key) const { return object_.count(key) > 0; }

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::map<std::string, JsonValue> object_;  // a repeated key keeps the last
};

// Parses one JSON document (surrounding whitespace allowed). InvalidArgument
// naming the byte offset and what was expected there. Nesting deeper than
// 64 levels is refused.
[[nodiscard]] StatusOr<JsonValue> ParseJson(const std::string& text);

}  // namespace iak

#endif  // IAK_COMMON_JSON_READER_H_
