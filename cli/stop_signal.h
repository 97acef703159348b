// Ctrl-C handling for every `iak` process: SIGINT and SIGTERM set one flag
// that every long-running loop watches, so the whole local cluster stops
// cleanly (the launcher forwards the stop to its children).
#ifndef IAK_CLI_STOP_SIGNAL_H_
#define IAK_CLI_STOP_SIGNAL_H_

#include <atomic>

namespace iak::cli {

// Installs the handlers (once) and returns the flag they set. A second
// Ctrl-C while stopping exits at once.
const std::atomic<bool>& InstallStopSignalHandlers();

}  // namespace iak::cli

#endif  // IAK_CLI_STOP_SIGNAL_H_
