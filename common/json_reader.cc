#include "common/json_reader.h"

#include <cstdint>
#include <cstdlib>

namespace iak {

const JsonValue& JsonValue::operator[](const std::string& key) const {
  static const JsonValue* const kNull = new JsonValue();
  auto it = object_.find(key);
  return it == object_.end() ? *kNull : it->second;
}

// Recursive descent over `text`; the first error ends the parse.
class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  StatusOr<JsonValue> Document() {
    JsonValue value;
    IAK_RETURN_IF_ERROR(Value(&value, 0));
    SkipSpace();
    if (at_ != text_.size()) return Error("the end of the document");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  Status Error(const std::string& expected) const {
    return InvalidArgumentError("JSON: expected " + expected + " at byte " + std::to_string(at_));
  }

  void SkipSpace() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t')) {
      ++at_;
    }
  }

  // Steps over `c` when it comes next.
  bool Consume(char c) {
    if (at_ >= text_.size() || text_[at_] != c) return false;
    ++at_;
    return true;
  }

  bool Consume(const char* word) {
    const std::string w(word);
    if (text_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }

  Status Value(JsonValue* out, int depth) {
    if (depth > kMaxDepth) return Error("at most " + std::to_string(kMaxDepth) + " levels");
    SkipSpace();
    if (at_ >= text_.size()) return Error("a value");
    const char c = text_[at_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->kind_ = JsonValue::Kind::kString;
      return String(&out->string_);
    }
    if (Consume("null")) {
      out->kind_ = JsonValue::Kind::kNull;
      return Status::Ok();
    }
    if (Consume("true") || Consume("false")) {
      out->kind_ = JsonValue::Kind::kBool;
      out->bool_ = c == 't';
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const char* begin = text_.c_str() + at_;
      char* end = nullptr;
      out->number_ = std::strtod(begin, &end);
      if (end == begin) return Error("a number");
      out->kind_ = JsonValue::Kind::kNumber;
      at_ += static_cast<size_t>(end - begin);
      return Status::Ok();
    }
    return Error("a value");
  }

  Status Object(JsonValue* out, int depth) {
    out->kind_ = JsonValue::Kind::kObject;
    ++at_;  // {
    SkipSpace();
    if (Consume('}')) return Status::Ok();
    while (true) {
      SkipSpace();
      if (at_ >= text_.size() || text_[at_] != '"') return Error("a member name");
      std::string key;
      IAK_RETURN_IF_ERROR(String(&key));
      SkipSpace();
      if (!Consume(':')) return Error("':'");
      JsonValue value;
      IAK_RETURN_IF_ERROR(Value(&value, depth + 1));
      out->object_[key] = std::move(value);
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) return Status::Ok();
      return Error("',' or '}'");
    }
  }

  Status Array(JsonValue* out, int depth) {
    out->kind_ = JsonValue::Kind::kArray;
    ++at_;  // [
    SkipSpace();
    if (Consume(']')) return Status::Ok();
    while (true) {
      JsonValue value;
      IAK_RETURN_IF_ERROR(Value(&value, depth + 1));
      out->array_.push_back(std::move(value));
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume(']')) return Status::Ok();
      return Error("',' or ']'");
    }
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      *out += static_cast<char>(code);
    } else if (code < 0x800) {
      *out += static_cast<char>(0xC0 | (code >> 6));
      *out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      *out += static_cast<char>(0xE0 | (code >> 12));
      *out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (code >> 18));
      *out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  bool Hex4(uint32_t* code) {
    if (at_ + 4 > text_.size()) return false;
    *code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[at_++];
      *code <<= 4;
      if (h >= '0' && h <= '9') {
        *code |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        *code |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        *code |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  Status String(std::string* out) {
    ++at_;  // "
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return Status::Ok();
      if (static_cast<unsigned char>(c) < 0x20) return Error("no control character in a string");
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (at_ >= text_.size()) break;
      const char e = text_[at_++];
      switch (e) {
        case '"': case '\\': case '/': *out += e; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t code = 0;
          if (!Hex4(&code)) return Error("4 hex digits after \\u");
          if (code >= 0xD800 && code < 0xDC00 && Consume("\\u")) {
            uint32_t low = 0;
            if (!Hex4(&low) || low < 0xDC00 || low >= 0xE000) {
              return Error("a low surrogate after a high one");
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(code, out);
          break;
        }
        default:
          --at_;
          return Error("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
      }
    }
    return Error("the end of the string ('\"')");
  }

  const std::string& text_;
  size_t at_ = 0;
};

StatusOr<JsonValue> ParseJson(const std::string& text) { return JsonParser(text).Document(); }

}  // namespace iak
