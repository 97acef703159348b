// Turning one line of a text data file into one sample, as a schema says.
//
// The parser appends the sample to a Dataset under construction, or appends
// nothing and explains why: "column 3 ('I2'): expected a number, found 'x'".
// The caller (TextReader) adds the file and line and applies the bad-line
// policy. Checks, in order: encoding (valid UTF-8, no NUL byte), quoting
// (CSV), the number of columns, then each column as its role requires
// (labels 0/1, numbers, timestamps); finally the domain.
//
// Domains named by a COLUMN_DOMAIN column are numbered in order of first
// appearance in this parser's input (`domain_names()`); rule domains keep the
// ids of the schema's DomainRuleSet.
//
// Thread-safety: one LineParser per thread; the schema is shared read-only.
#ifndef IAK_DATA_LINE_PARSER_H_
#define IAK_DATA_LINE_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/schema.h"

namespace iak::data {

class LineParser {
 public:
  enum class Outcome {
    kSample,     // one sample appended
    kNoDomain,   // well-formed, but no domain rule holds and no default
    kBad,        // malformed; *problem says where and why
  };

  // `schema` must outlive the parser.
  explicit LineParser(const CompiledSchema& schema);

  // Parses `line` (no '\n'; a trailing '\r' is dropped). `ordinal` becomes
  // the sample's timestamp when the schema has no timestamp column.
  Outcome Parse(std::string_view line, int64_t ordinal, Dataset* out, std::string* problem);

  const std::vector<std::string>& domain_names() const { return domain_names_; }

 private:
  Outcome ParseDelimited(std::string_view line, int64_t ordinal, Dataset* out,
                         std::string* problem);
  Outcome ParseSvm(std::string_view line, Dataset* out, std::string* problem);
  bool SplitColumns(std::string_view line, std::string* problem);
  int DomainOfValue(std::string_view value);

  const CompiledSchema& schema_;
  std::vector<std::string_view> cols_;
  std::vector<std::string> quoted_;  // storage for CSV lines with quotes
  std::vector<std::pair<uint32_t, uint64_t>> svm_keys_;  // a libsvm line's (field, key)
  std::vector<std::string> domain_names_;
  std::unordered_map<std::string, int> domain_ids_;
};

// "column N ('name'): <what>, found '<text>'" (the text cut to 60 chars).
std::string ColumnProblem(int column, std::string_view name, std::string_view what,
                          std::string_view found);

// The byte offset of the first invalid UTF-8 sequence or NUL byte in `text`,
// or npos when it is all valid.
size_t FindBadEncoding(std::string_view text);

}  // namespace iak::data

#endif  // IAK_DATA_LINE_PARSER_H_
