// Splitting one line of a CSV file into fields.
//
// Follows RFC 4180 as MovieLens writes it: a field may be wrapped in double
// quotes, inside which commas are literal and `""` stands for one quote
// (`"American President, The (1995)"`, `"11'09""01 - September 11 (2002)"`).
// A quote inside an unquoted field is kept as a literal character, as most
// CSV writers and readers do. Fields never span lines: the caller hands over
// one physical line, so a quote left open at the end of the line is an error.
//
// Thread-safety: stateless; safe to call from any thread.
#ifndef IAK_DATA_CSV_LINE_H_
#define IAK_DATA_CSV_LINE_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace iak::data {

// Splits `line` into `*fields` (cleared first; reusing the vector across lines
// saves allocations). A trailing '\r' (CRLF files) is dropped; an empty line
// yields one empty field.
//
// Returns InvalidArgumentError, whose message starts "column N:" (1-based) so
// the caller can prefix "path:line: ", when a quoted field is not closed on
// this line or a closing quote is followed by something other than a comma.
// On error `*fields` holds the fields parsed so far.
[[nodiscard]] Status SplitCsvLine(std::string_view line, std::vector<std::string>* fields);

// `line` without a trailing '\r', if it has one.
std::string_view StripTrailingCr(std::string_view line);

}  // namespace iak::data

#endif  // IAK_DATA_CSV_LINE_H_
