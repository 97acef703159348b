#include "common/process_memory.h"

#include <fstream>
#include <string>

namespace iak {
namespace {

// The value of a "Name:   1234 kB" line of /proc/<pid>/status, in bytes.
StatusOr<uint64_t> StatusField(pid_t pid, const std::string& name) {
  const std::string path =
      pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status";
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read " + path + " (is process " + std::to_string(pid) + " gone?)");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0) continue;
    try {
      return static_cast<uint64_t>(std::stoull(line.substr(name.size() + 1))) * 1024;
    } catch (const std::exception&) {
      return IoError(path + ": cannot parse \"" + line + "\"");
    }
  }
  return IoError(path + " has no " + name + " line");
}

}  // namespace

StatusOr<uint64_t> PeakResidentBytes(pid_t pid) { return StatusField(pid, "VmHWM"); }
StatusOr<uint64_t> ResidentBytes(pid_t pid) { return StatusField(pid, "VmRSS"); }

}  // namespace iak
