#include "cli/stop_signal.h"

#include <signal.h>
#include <unistd.h>

namespace iak::cli {
namespace {

// Signal handlers can only reach process-wide state; this flag is the one
// piece of it, read through the reference InstallStopSignalHandlers returns.
std::atomic<bool> g_stop{false};

void OnStopSignal(int) {
  if (g_stop.exchange(true)) _exit(130);
}

}  // namespace

const std::atomic<bool>& InstallStopSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return g_stop;
}

}  // namespace iak::cli
