// The workers' "progress: ..." log lines with the time of day of their glog
// prefix, and the same clock for a moment the test took: for figures such as
// "first step after the resume, N ms after the kill".
#ifndef IAK_TESTS_TESTING_PROGRESS_LOG_H_
#define IAK_TESTS_TESTING_PROGRESS_LOG_H_

#include <time.h>

#include <chrono>
#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace iak::testing_util {

// Microseconds since local midnight, the clock glog's line prefixes use.
inline int64_t LocalTimeOfDayUs(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  localtime_r(&seconds, &local);
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() %
      1000000;
  return ((local.tm_hour * 60 + local.tm_min) * 60 + local.tm_sec) * 1000000LL + us;
}

// One progress line of a log.
struct LogLine {
  int64_t time_of_day_us = 0;  // glog prefix, local time
  std::string text;            // what follows "progress: "
};

// The progress lines of a glog-format log, in order.
inline std::vector<LogLine> ProgressLines(const std::string& log) {
  static const std::regex prefix(
      R"(^[IWEF]\d{4,8} (\d\d):(\d\d):(\d\d)\.(\d{6}) .*progress: (.*)$)");
  std::vector<LogLine> lines;
  std::istringstream in(log);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_match(line, m, prefix)) continue;
    LogLine parsed;
    parsed.time_of_day_us = ((std::stoll(m[1]) * 60 + std::stoll(m[2])) * 60 + std::stoll(m[3])) *
                                1000000LL +
                            std::stoll(m[4]);
    parsed.text = m[5];
    lines.push_back(parsed);
  }
  return lines;
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_PROGRESS_LOG_H_
