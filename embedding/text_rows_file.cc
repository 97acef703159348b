#include "embedding/text_rows_file.h"

#include <charconv>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "common/file_util.h"

namespace iak::embedding {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool ParseKey(std::string_view s, uint64_t* key) {
  s = Trim(s);
  if (s.empty() || s.front() == '-' || s.front() == '+') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *key);
  return ec == std::errc() && end == s.data() + s.size();
}

bool ParseValue(std::string_view s, float* value) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *value);
  return ec == std::errc() && end == s.data() + s.size();
}

// Calls visit(line_number, line) for each line, without its '\n'.
template <typename Visit>
Status ForEachLine(const std::string& text, Visit visit) {
  size_t pos = 0;
  int64_t line_number = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    IAK_RETURN_IF_ERROR(visit(line_number, std::string_view(text.data() + pos, end - pos)));
    pos = end + 1;
  }
  return Status::Ok();
}

bool Skippable(std::string_view line) {
  line = Trim(line);
  return line.empty() || line.front() == '#';
}

}  // namespace

StatusOr<RowTable> ParseCsvRows(const std::string& text, const std::string& path) {
  RowTable table;
  char delimiter = EndsWith(path, ".tsv") ? '\t' : '\0';
  bool first = true;
  std::unordered_map<uint64_t, int64_t> line_of_key;
  std::vector<float> row;
  IAK_RETURN_IF_ERROR(ForEachLine(text, [&](int64_t number, std::string_view line) -> Status {
    if (Skippable(line)) return Status::Ok();
    auto error = [&](const std::string& what) {
      return InvalidArgumentError(path + ":" + std::to_string(number) + ": " + what);
    };
    if (delimiter == '\0') {
      delimiter = (line.find('\t') != std::string_view::npos &&
                   line.find(',') == std::string_view::npos)
                      ? '\t'
                      : ',';
    }
    const size_t cut = line.find(delimiter);
    uint64_t key = 0;
    if (!ParseKey(line.substr(0, cut), &key)) {
      if (first) {  // a header line such as "key,v0,v1"
        first = false;
        return Status::Ok();
      }
      return error("the key '" + std::string(Trim(line.substr(0, cut))) +
                   "' is not an unsigned 64-bit integer");
    }
    first = false;
    row.clear();
    size_t pos = cut;
    while (pos != std::string_view::npos) {
      const size_t next = line.find(delimiter, pos + 1);
      const std::string_view field =
          line.substr(pos + 1, next == std::string_view::npos ? std::string_view::npos
                                                               : next - pos - 1);
      float value = 0;
      if (!ParseValue(field, &value)) {
        return error("value " + std::to_string(row.size() + 1) + " '" +
                     std::string(Trim(field)) + "' is not a number");
      }
      if (!std::isfinite(value)) {
        return error("value " + std::to_string(row.size() + 1) + " is not finite");
      }
      row.push_back(value);
      pos = next;
    }
    if (row.empty()) {
      return error("a key without values; each line is key" + std::string(1, delimiter) +
                   "v1" + std::string(1, delimiter) + "..." + std::string(1, delimiter) + "vd");
    }
    if (table.dim == 0) table.dim = static_cast<int>(row.size());
    if (row.size() != static_cast<size_t>(table.dim)) {
      return error(std::to_string(row.size()) + " values, but the first row has " +
                   std::to_string(table.dim));
    }
    const auto [it, inserted] = line_of_key.emplace(key, number);
    if (!inserted) {
      return error("key " + std::to_string(key) + " appears again (first on line " +
                   std::to_string(it->second) + ")");
    }
    table.keys.push_back(key);
    table.values.insert(table.values.end(), row.begin(), row.end());
    return Status::Ok();
  }));
  if (table.keys.empty()) {
    return InvalidArgumentError(path + ": no rows (expected lines of key,v1,...,vd)");
  }
  return table;
}

StatusOr<RowTable> ReadCsvRowsFile(const std::string& path) {
  std::string text;
  IAK_RETURN_IF_ERROR(ReadFileToString(path, &text));
  return ParseCsvRows(text, path);
}

StatusOr<std::vector<uint64_t>> ParseKeyList(const std::string& text, const std::string& path) {
  std::vector<uint64_t> keys;
  IAK_RETURN_IF_ERROR(ForEachLine(text, [&](int64_t number, std::string_view line) -> Status {
    if (Skippable(line)) return Status::Ok();
    uint64_t key = 0;
    if (!ParseKey(line, &key)) {
      return InvalidArgumentError(path + ":" + std::to_string(number) + ": '" +
                                  std::string(Trim(line)) +
                                  "' is not an unsigned 64-bit integer key");
    }
    keys.push_back(key);
    return Status::Ok();
  }));
  return keys;
}

StatusOr<std::vector<uint64_t>> ReadKeyListFile(const std::string& path) {
  std::string text;
  IAK_RETURN_IF_ERROR(ReadFileToString(path, &text));
  return ParseKeyList(text, path);
}

}  // namespace iak::embedding
