// How reports spell numbers and strings: the progress lines, tables, JSON
// files and plot data of every command, one spelling each.
#ifndef IAK_COMMON_REPORT_TEXT_H_
#define IAK_COMMON_REPORT_TEXT_H_

#include <string>
#include <vector>

namespace iak {

// `digits` decimals ("%.*f"): 0.664712 at 4 is "0.6647".
std::string FormatFixed(double value, int digits);

// At most six significant digits, as a stream prints a double (0.00012345,
// 1.5e+07); `nan_text` for NaN ("null" in JSON, "NaN" for gnuplot).
std::string FormatShort(double value, const char* nan_text);

// A JSON number with `digits` decimals, or null for NaN (an undefined AUC:
// NaN is not JSON).
std::string JsonNumber(double value, int digits);

// A JSON string: quotes and backslashes escaped, control characters as \uXXXX.
std::string JsonQuote(const std::string& text);

// [1,2,3]
std::string JsonIntList(const std::vector<int>& values);

// A CSV field (RFC 4180): as it is, or in double quotes (a quote doubled)
// when it holds a comma, a quote or a line break.
std::string CsvField(const std::string& text);

// A markdown table cell: a pipe escaped (it would end the cell), line breaks
// dropped.
std::string MarkdownCell(const std::string& text);

// A gnuplot single-quoted string for a script (a quote doubled, line breaks
// dropped).
std::string GnuplotQuoted(const std::string& text);

// A label in a gnuplot data file, in double quotes: data files have no
// escapes, so a double quote inside becomes a single one.
std::string GnuplotDataLabel(const std::string& text);

}  // namespace iak

#endif  // IAK_COMMON_REPORT_TEXT_H_
