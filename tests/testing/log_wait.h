// Waits, polling with a deadline (never a fixed sleep), until a log file
// holds a line the test needs before it acts, e.g. a job's first progress
// line before it is cancelled.
#ifndef IAK_TESTS_TESTING_LOG_WAIT_H_
#define IAK_TESTS_TESTING_LOG_WAIT_H_

#include <chrono>
#include <string>
#include <thread>

#include "common/clock.h"
#include "tests/testing/file_text.h"

namespace iak::testing_util {

// True once the file at `path` contains `needle`; false when `deadline`
// expired first. Reads the file again every `poll`.
inline bool WaitForFileText(const std::string& path, const std::string& needle,
                            const Deadline& deadline, std::chrono::milliseconds poll) {
  while (FileText(path).find(needle) == std::string::npos) {
    if (deadline.Expired()) return false;
    std::this_thread::sleep_for(poll);  // poll interval, bounded by the deadline
  }
  return true;
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_LOG_WAIT_H_
