#include "data/line_parser.h"

#include <algorithm>
#include <charconv>

#include "common/keys.h"
#include "data/csv_line.h"
#include "data/domain_name.h"
#include "data/numeric_value.h"
#include "data/utc_time.h"

namespace iak::data {
namespace {

std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 60;
  if (text.size() <= kMaxShown) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, kMaxShown)) + "...'";
}

bool ParseInt64(std::string_view text, int64_t* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

bool ParseUint64(std::string_view text, uint64_t* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// Avazu's hour column: YYMMDDHH, years 2000..2099.
bool ParseYymmddhh(std::string_view text, int64_t* seconds) {
  if (text.size() != 8) return false;
  int d[8];
  for (int i = 0; i < 8; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    d[i] = text[i] - '0';
  }
  const int year = 2000 + d[0] * 10 + d[1];
  const int month = d[2] * 10 + d[3];
  const int day = d[4] * 10 + d[5];
  const int hour = d[6] * 10 + d[7];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23) return false;
  *seconds = FromUtc(year, month, day, hour);
  return true;
}

bool ParseTimestamp(proto::TimestampFormat format, std::string_view text, int64_t* seconds) {
  switch (format) {
    case proto::TIMESTAMP_YYMMDDHH:
      return ParseYymmddhh(text, seconds);
    case proto::TIMESTAMP_UNIX_MILLIS: {
      int64_t ms;
      if (!ParseInt64(text, &ms)) return false;
      *seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
      return true;
    }
    default:
      return ParseInt64(text, seconds);
  }
}

const char* TimestampExpected(proto::TimestampFormat format) {
  switch (format) {
    case proto::TIMESTAMP_YYMMDDHH:
      return "a time as YYMMDDHH (8 digits)";
    case proto::TIMESTAMP_UNIX_MILLIS:
      return "an integer (milliseconds since 1970-01-01 UTC)";
    default:
      return "an integer (seconds since 1970-01-01 UTC)";
  }
}

}  // namespace

std::string ColumnProblem(int column, std::string_view name, std::string_view what,
                          std::string_view found) {
  std::string s = "column " + std::to_string(column) + " ('";
  s.append(name).append("'): expected ").append(what).append(", found ").append(Quote(found));
  return s;
}

size_t FindBadEncoding(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c >= 0x01 && c < 0x80) {
      ++i;
      continue;
    }
    if (c == 0) return i;
    int len;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    } else {
      return i;
    }
    if (i + static_cast<size_t>(len) > n) return i;
    uint32_t cp = c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += static_cast<size_t>(len);
  }
  return std::string_view::npos;
}

LineParser::LineParser(const CompiledSchema& schema) : schema_(schema) {
  if (schema.domain_column < 0) domain_names_ = schema.domain_rules.domain_names();
}

LineParser::Outcome LineParser::Parse(std::string_view line, int64_t ordinal, Dataset* out,
                                      std::string* problem) {
  line = StripTrailingCr(line);
  const size_t bad = FindBadEncoding(line);
  if (bad != std::string_view::npos) {
    const bool svm = schema_.schema.format() == proto::FORMAT_LIBSVM ||
                     schema_.schema.format() == proto::FORMAT_LIBFFM;
    int column = 1;
    for (size_t i = 0; i < bad; ++i) {
      const char c = line[i];
      column += svm ? (c == ' ' || c == '\t') : c == schema_.delimiter();
    }
    *problem = "column " + std::to_string(column) + ": bad encoding: " +
               (line[bad] == '\0' ? std::string("a NUL byte")
                                  : std::string("invalid UTF-8")) +
               " at byte " + std::to_string(bad + 1) + " of the line";
    return Outcome::kBad;
  }
  const proto::FileFormat format = schema_.schema.format();
  if (format == proto::FORMAT_LIBSVM || format == proto::FORMAT_LIBFFM) {
    return ParseSvm(line, out, problem);
  }
  return ParseDelimited(line, ordinal, out, problem);
}

bool LineParser::SplitColumns(std::string_view line, std::string* problem) {
  cols_.clear();
  const char delimiter = schema_.delimiter();
  if (delimiter == ',' && line.find('"') != std::string_view::npos) {
    const Status status = SplitCsvLine(line, &quoted_);
    if (!status.ok()) {
      *problem = "bad quoting: " + status.message();
      return false;
    }
    for (const std::string& s : quoted_) cols_.emplace_back(s);
    return true;
  }
  size_t start = 0;
  while (true) {
    const size_t end = line.find(delimiter, start);
    if (end == std::string_view::npos) {
      cols_.push_back(line.substr(start));
      return true;
    }
    cols_.push_back(line.substr(start, end - start));
    start = end + 1;
  }
}

int LineParser::DomainOfValue(std::string_view value) {
  const auto it = domain_ids_.find(std::string(value));
  if (it != domain_ids_.end()) return it->second;
  const int id = static_cast<int>(domain_names_.size());
  domain_names_.emplace_back(value);
  domain_ids_.emplace(std::string(value), id);
  return id;
}

LineParser::Outcome LineParser::ParseDelimited(std::string_view line, int64_t ordinal,
                                               Dataset* out, std::string* problem) {
  if (!SplitColumns(line, problem)) return Outcome::kBad;
  const std::vector<CompiledColumn>& columns = schema_.columns;
  if (cols_.size() != columns.size()) {
    *problem = "expected " + std::to_string(columns.size()) + " columns, found " +
               std::to_string(cols_.size()) +
               (schema_.delimiter() == ',' ? " (separated by ',')" : " (separated by tabs)");
    return Outcome::kBad;
  }
  const size_t keys_before = out->keys.size();
  const size_t offsets_before = out->offsets.size();
  auto fail = [&](std::string message) {
    out->keys.resize(keys_before);
    out->offsets.resize(offsets_before);
    *problem = std::move(message);
    return Outcome::kBad;
  };
  float click = 0.0f;
  float conversion = 0.0f;
  int64_t timestamp = ordinal;
  for (size_t i = 0; i < columns.size(); ++i) {
    const CompiledColumn& c = columns[i];
    const std::string_view v = cols_[i];
    const int col = static_cast<int>(i) + 1;
    switch (c.role) {
      case proto::COLUMN_CLICK:
        if (!ParseLabel(v, &click)) return fail(ColumnProblem(col, c.name, "a 0/1 label", v));
        break;
      case proto::COLUMN_CONVERSION:
        if (!ParseLabel(v, &conversion)) {
          return fail(ColumnProblem(col, c.name, "a 0/1 label", v));
        }
        break;
      case proto::COLUMN_CATEGORICAL:
        out->keys.push_back(FeatureKey(static_cast<uint32_t>(c.field), HashBytes(v)));
        out->offsets.push_back(out->keys.size());
        break;
      case proto::COLUMN_MULTI_CATEGORICAL: {
        size_t start = 0;
        while (start <= v.size()) {
          size_t end = v.find(c.separator, start);
          if (end == std::string_view::npos) end = v.size();
          if (end > start) {
            out->keys.push_back(
                FeatureKey(static_cast<uint32_t>(c.field), HashBytes(v.substr(start, end - start))));
          }
          start = end + c.separator.size();
        }
        out->offsets.push_back(out->keys.size());
        break;
      }
      case proto::COLUMN_NUMERIC: {
        uint64_t bucket = kMissingNumericBucket;
        if (!v.empty()) {
          double x;
          if (!ParseNumber(v, &x)) {
            return fail(ColumnProblem(col, c.name, "a number (or an empty cell for missing)", v));
          }
          bucket = NumericBucket(c.transform, c.boundaries, x);
        }
        out->keys.push_back(FeatureKey(static_cast<uint32_t>(c.field), bucket));
        out->offsets.push_back(out->keys.size());
        break;
      }
      case proto::COLUMN_TIMESTAMP:
        if (!ParseTimestamp(c.timestamp_format, v, &timestamp)) {
          return fail(ColumnProblem(col, c.name, TimestampExpected(c.timestamp_format), v));
        }
        break;
      default:  // COLUMN_DOMAIN (below), COLUMN_IGNORED
        break;
    }
  }
  int domain;
  if (schema_.domain_column >= 0) {
    const std::string_view v = cols_[static_cast<size_t>(schema_.domain_column)];
    const std::string name_problem = DomainNameProblem(v);
    if (!name_problem.empty()) {
      const CompiledColumn& c = columns[static_cast<size_t>(schema_.domain_column)];
      return fail(ColumnProblem(schema_.domain_column + 1, c.name,
                                "a domain name (this one " + name_problem +
                                    "; names fill result files and plans)",
                                v));
    }
    domain = DomainOfValue(v);
  } else {
    domain = schema_.domain_rules.Evaluate(cols_.data(), timestamp);
    if (domain < 0) {
      out->keys.resize(keys_before);
      out->offsets.resize(offsets_before);
      return Outcome::kNoDomain;
    }
  }
  out->click.push_back(click);
  if (schema_.has_conversion()) out->conversion.push_back(conversion);
  out->domain.push_back(domain);
  out->timestamp.push_back(timestamp);
  return Outcome::kSample;
}

LineParser::Outcome LineParser::ParseSvm(std::string_view line, Dataset* out,
                                         std::string* problem) {
  const bool ffm = schema_.schema.format() == proto::FORMAT_LIBFFM;
  const size_t num_fields = schema_.fields.size();
  // (field, key) in line order; grouped by field below. One scratch for
  // every line: nothing per line grows with num_fields but the offsets.
  svm_keys_.clear();
  float click = 0.0f;
  size_t pos = 0;
  int token_index = 0;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    if (pos >= line.size()) break;
    size_t end = pos;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    const std::string_view token = line.substr(pos, end - pos);
    pos = end;
    ++token_index;
    if (token_index == 1) {
      if (!ParseLabel(token, &click)) {
        *problem = ColumnProblem(1, "label", "a 0/1 label (or -1/+1)", token);
        return Outcome::kBad;
      }
      continue;
    }
    const char* shape = ffm ? "field:index:value" : "index:value";
    const size_t c1 = token.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : token.find(':', c1 + 1);
    uint64_t field = 0;
    uint64_t index;
    std::string_view index_text, value_text;
    if (ffm) {
      if (c2 == std::string_view::npos || !ParseUint64(token.substr(0, c1), &field)) {
        *problem = ColumnProblem(token_index, "feature", shape, token);
        return Outcome::kBad;
      }
      index_text = token.substr(c1 + 1, c2 - c1 - 1);
      value_text = token.substr(c2 + 1);
    } else {
      if (c1 == std::string_view::npos || c2 != std::string_view::npos) {
        *problem = ColumnProblem(token_index, "feature", shape, token);
        return Outcome::kBad;
      }
      index_text = token.substr(0, c1);
      value_text = token.substr(c1 + 1);
    }
    double value;
    if (!ParseUint64(index_text, &index) || !ParseNumber(value_text, &value)) {
      *problem = ColumnProblem(token_index, "feature",
                               std::string(shape) + " with an integer index and a number", token);
      return Outcome::kBad;
    }
    if (field >= num_fields) {
      *problem = ColumnProblem(token_index, "feature",
                               "a field below num_fields = " + std::to_string(num_fields), token);
      return Outcome::kBad;
    }
    // The model has no feature weights: a non-zero value means "present".
    if (value != 0.0) {
      svm_keys_.push_back({static_cast<uint32_t>(field), FeatureKey(static_cast<uint32_t>(field),
                                                                    index)});
    }
  }
  if (token_index == 0) {
    *problem = "an empty line where a label was expected";
    return Outcome::kBad;
  }
  const int64_t ordinal = static_cast<int64_t>(out->click.size());
  const int domain = schema_.domain_rules.Evaluate(nullptr, ordinal);
  if (domain < 0) return Outcome::kNoDomain;
  // Each field's keys in line order (lines usually list fields in order
  // already), then one offset per field, empty ones included.
  auto by_field = [](const auto& a, const auto& b) { return a.first < b.first; };
  if (!std::is_sorted(svm_keys_.begin(), svm_keys_.end(), by_field)) {
    std::stable_sort(svm_keys_.begin(), svm_keys_.end(), by_field);
  }
  size_t at = 0;
  for (size_t f = 0; f < num_fields; ++f) {
    for (; at < svm_keys_.size() && svm_keys_[at].first == f; ++at) {
      out->keys.push_back(svm_keys_[at].second);
    }
    out->offsets.push_back(out->keys.size());
  }
  out->click.push_back(click);
  out->domain.push_back(domain);
  out->timestamp.push_back(ordinal);
  return Outcome::kSample;
}

}  // namespace iak::data
