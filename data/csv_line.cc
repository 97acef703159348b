#include "data/csv_line.h"

#include <string>

namespace iak::data {

std::string_view StripTrailingCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Status SplitCsvLine(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  line = StripTrailingCr(line);
  size_t i = 0;
  while (true) {
    const int column = static_cast<int>(fields->size()) + 1;
    std::string& field = fields->emplace_back();
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c != '"') {
          field.push_back(c);
        } else if (i < line.size() && line[i] == '"') {
          field.push_back('"');  // "" is an escaped quote
          ++i;
        } else {
          closed = true;
          break;
        }
      }
      if (!closed) {
        return InvalidArgumentError("column " + std::to_string(column) +
                                    ": unterminated double quote (opened at character " +
                                    std::to_string(open + 1) + ")");
      }
      if (i < line.size() && line[i] != ',') {
        return InvalidArgumentError("column " + std::to_string(column) +
                                    ": expected ',' or end of line after the closing quote, found '" +
                                    std::string(1, line[i]) + "'");
      }
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == std::string_view::npos ? line.size() : comma;
      field.assign(line.data() + i, end - i);
      i = end;
    }
    if (i >= line.size()) return Status::Ok();
    ++i;  // skip the comma; a trailing comma yields a final empty field
  }
}

}  // namespace iak::data
