// ChildProcess: one program started by the launcher (fork + execv), with
// bounded waits and a clean stop (SIGTERM, then SIGKILL after a grace period).
//
// Thread-safety: not thread-safe; the launcher owns and drives its children.
#ifndef IAK_CLUSTER_CHILD_PROCESS_H_
#define IAK_CLUSTER_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace iak::cluster {

class ChildProcess {
 public:
  // Starts argv[0] (searched in PATH when it has no slash) with `argv`; stdout and stderr go to `log_path` (appended)
  // when it is not empty, else are inherited.
  static StatusOr<std::unique_ptr<ChildProcess>> Start(const std::string& name,
                                                       const std::vector<std::string>& argv,
                                                       const std::string& log_path);
  ~ChildProcess();  // stops the child if it still runs

  // Exit code if it has exited (128 + signal when killed by a signal).
  std::optional<int> Poll();
  // The signal that killed it, once Poll() saw it exit that way (SIGKILL,
  // SIGSEGV, ...); nullopt while it runs or when it exited by itself.
  std::optional<int> term_signal() const { return term_signal_; }
  // Waits until exit or `deadline`; DeadlineExceeded when still running.
  StatusOr<int> Wait(Deadline deadline);
  // SIGTERM, then SIGKILL if still alive after `grace`.
  void Stop(Duration grace);
  // Lets the child outlive this object (and this process): a detached
  // supervisor. It is neither stopped nor waited for.
  void Detach() { exit_code_ = 0; }

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  ChildProcess(std::string name, pid_t pid, std::string log_path)
      : name_(std::move(name)), pid_(pid), log_path_(std::move(log_path)) {}
  std::string name_;
  pid_t pid_;
  std::string log_path_;
  std::optional<int> exit_code_;
  std::optional<int> term_signal_;
};

// Stops every child still running: SIGTERM to all at once, a shared `grace`
// period, then SIGKILL to whoever is left.
void StopAll(const std::vector<std::unique_ptr<ChildProcess>>& children, Duration grace);

// Kills every child still running and all their descendants on this host
// (mpirun's ranks) with SIGKILL at once, then waits for them until
// `deadline`: for a group whose state is thrown away (a restart from a
// checkpoint), where a graceful stop would only wait for nodes talking to a
// dead peer.
void KillAllTrees(const std::vector<std::unique_ptr<ChildProcess>>& children, Deadline deadline);

// Runs `argv` to completion (bounded by `deadline`) and returns its exit code;
// its stdout and stderr together go to *output.
[[nodiscard]] StatusOr<int> RunAndCapture(const std::vector<std::string>& argv, Deadline deadline,
                                          std::string* output);

// The absolute path of the running executable (/proc/self/exe).
std::string SelfExecutablePath();

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_CHILD_PROCESS_H_
