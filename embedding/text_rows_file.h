// Text inputs of `iak snapshot import`: a CSV/TSV table with one row per line
// (`key,v1,...,vd`; tab-separated for .tsv files or when the first data line
// holds a tab and no comma; an optional header line whose first field is not
// a key; blank lines and lines starting with '#' skipped), and a key list
// (one uint64 per line). Errors name the file and the line and say what is
// wrong; nothing is skipped silently.
//
// Thread-safety: pure functions.
#ifndef IAK_EMBEDDING_TEXT_ROWS_FILE_H_
#define IAK_EMBEDDING_TEXT_ROWS_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "embedding/row_table.h"

namespace iak::embedding {

// Parses a CSV/TSV table; `path` names it in errors and picks the delimiter
// (.tsv). InvalidArgument "<path>:<line>: ..." for a bad key or value, a row
// of another width than the first, a non-finite value or a repeated key
// (naming both lines); for a file without rows.
[[nodiscard]] StatusOr<RowTable> ParseCsvRows(const std::string& text, const std::string& path);
[[nodiscard]] StatusOr<RowTable> ReadCsvRowsFile(const std::string& path);

// Parses a key list, one unsigned 64-bit integer per line.
[[nodiscard]] StatusOr<std::vector<uint64_t>> ParseKeyList(const std::string& text,
                                                           const std::string& path);
[[nodiscard]] StatusOr<std::vector<uint64_t>> ReadKeyListFile(const std::string& path);

}  // namespace iak::embedding

#endif  // IAK_EMBEDDING_TEXT_ROWS_FILE_H_
