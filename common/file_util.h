// Whole-file reads and crash-safe whole-file writes (model directories, job
// state, adapters, reports).
// Errors are Statuses naming the path and the OS reason; nothing throws.
#ifndef IAK_COMMON_FILE_UTIL_H_
#define IAK_COMMON_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "common/status.h"

namespace iak {

// Reads `path` into `*contents`. NotFound when the file does not exist,
// IoError on any other failure.
[[nodiscard]] Status ReadFileToString(const std::string& path, std::string* contents);

// Writes `contents` to `path` via a temporary file, fsync and rename, so a
// reader sees either the old file, or the complete new one, never a part.
// Safe for concurrent writers of the same path (each has its own temporary
// file; the last rename wins).
[[nodiscard]] Status WriteFileAtomically(const std::string& path, const std::string& contents);

// Creates `dir` and its missing parents (all there already: OK). IoError
// "cannot create DIR: <the OS reason>", then "; <hint>" when one is given
// (what the user can change, e.g. "set output_dir to a writable directory").
[[nodiscard]] Status CreateDirectories(const std::string& dir, const std::string& hint = "");

// Bytes of all regular files under `dir`, recursively (what a snapshot or a
// data set takes on disk); 0 for a missing directory. Best effort: entries
// that vanish or cannot be read while it walks are skipped.
uint64_t DirectoryBytes(const std::string& dir);

}  // namespace iak

#endif  // IAK_COMMON_FILE_UTIL_H_
