// Memory figures of a running process, read from /proc/<pid>/status: its
// peak resident set (VmHWM) and current one (VmRSS). For benchmarks that
// report what a server or worker actually held.
//
// Thread-safety: pure functions over /proc.
#ifndef IAK_COMMON_PROCESS_MEMORY_H_
#define IAK_COMMON_PROCESS_MEMORY_H_

#include <sys/types.h>

#include <cstdint>

#include "common/status.h"

namespace iak {

// Peak resident bytes of process `pid` (0 = this process). NotFound when the
// process is gone; IoError when /proc cannot be read or lacks the field
// (a kernel without /proc/<pid>/status).
[[nodiscard]] StatusOr<uint64_t> PeakResidentBytes(pid_t pid = 0);
// Resident bytes now; errors as PeakResidentBytes.
[[nodiscard]] StatusOr<uint64_t> ResidentBytes(pid_t pid = 0);

}  // namespace iak

#endif  // IAK_COMMON_PROCESS_MEMORY_H_
