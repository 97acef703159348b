// PeerProcess: a reference implementation in another language (the PyTorch
// W2 step of bench/peers/) run as a child process that answers one JSON line
// per command line, so a benchmark can alternate its own repeats with the
// peer's in one run and report a ratio that both sides measured under the
// same background load.
//
// Protocol (bench/peers/w2_step_torch.py --serve): after start-up the peer
// prints one line containing "ready" (or one containing "error" and exits);
// then for each line written to its stdin it prints one line on stdout.
//
// Thread-safety: one thread at a time.
#ifndef IAK_BENCH_PEER_PROCESS_H_
#define IAK_BENCH_PEER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/clock.h"

namespace iak::bench {

class PeerProcess {
 public:
  // Starts argv (argv[0] looked up in PATH) with stdin and stdout on a socket and
  // stderr to `stderr_path`; waits up to `startup` for the ready line.
  // Unavailable (with the peer's own message) when it cannot start or says
  // it cannot run, e.g. PyTorch is not installed.
  [[nodiscard]] static StatusOr<std::unique_ptr<PeerProcess>> Start(
      const std::vector<std::string>& argv, const std::string& stderr_path, Duration startup);
  ~PeerProcess();  // sends "quit", then reaps (SIGKILL after 5 s)

  // Sends `command` and returns the peer's one-line answer; DeadlineExceeded
  // after `timeout`, Unavailable when the peer exited.
  [[nodiscard]] StatusOr<std::string> Ask(const std::string& command, Duration timeout);
  const std::string& ready_line() const { return ready_line_; }

 private:
  PeerProcess() = default;
  StatusOr<std::string> ReadLine(Duration timeout);

  pid_t pid_ = -1;
  int fd_ = -1;  // our end of the socket pair (the peer's stdin and stdout)
  std::string buffer_;
  std::string ready_line_;
};

}  // namespace iak::bench

#endif  // IAK_BENCH_PEER_PROCESS_H_
