// Runs the `iak` binary of this build (IAK_BINARY, set by the test's CMake
// target) with arguments and captures its output and exit code.
#ifndef IAK_TESTS_TESTING_RUN_IAK_H_
#define IAK_TESTS_TESTING_RUN_IAK_H_

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace iak::testing_util {

struct IakRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline IakRun RunIak(const std::string& args) {
  IakRun run;
  const std::string command = std::string(IAK_BINARY) + " " + args + " 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_RUN_IAK_H_
