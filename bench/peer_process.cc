#include "bench/peer_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace iak::bench {
namespace {

using Clock = std::chrono::steady_clock;

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    // A socket, so a peer that died yields an error here, not SIGPIPE.
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<PeerProcess>> PeerProcess::Start(const std::vector<std::string>& argv,
                                                          const std::string& stderr_path,
                                                          Duration startup) {
  if (argv.empty()) return InvalidArgumentError("peer: empty command");
  // One socket pair: the child's end is its stdin and stdout.
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    return IoError("peer: socketpair: " + std::string(strerror(errno)));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(ends[0]);
    close(ends[1]);
    return IoError("peer: fork: " + std::string(strerror(errno)));
  }
  if (pid == 0) {
    dup2(ends[1], STDIN_FILENO);
    dup2(ends[1], STDOUT_FILENO);
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) dup2(err, STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(ends[1]);
  std::unique_ptr<PeerProcess> peer(new PeerProcess());
  peer->pid_ = pid;
  peer->fd_ = ends[0];
  StatusOr<std::string> ready = peer->ReadLine(startup);
  if (!ready.ok()) {
    return UnavailableError("peer " + argv[0] + " did not start: " + ready.status().ToString() +
                            " (see " + stderr_path + ")");
  }
  if (ready->find("\"ready\"") == std::string::npos) {
    return UnavailableError("peer cannot run: " + *ready);
  }
  peer->ready_line_ = *ready;
  return peer;
}

PeerProcess::~PeerProcess() {
  if (fd_ >= 0) {
    WriteAll(fd_, "quit\n");
    close(fd_);
  }
  if (pid_ > 0) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      usleep(10000);
    }
  }
}

StatusOr<std::string> PeerProcess::ReadLine(Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const size_t eol = buffer_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return DeadlineExceededError("peer: no answer in time");
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return UnavailableError("peer exited");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

StatusOr<std::string> PeerProcess::Ask(const std::string& command, Duration timeout) {
  if (!WriteAll(fd_, command + "\n")) return UnavailableError("peer: stdin closed");
  return ReadLine(timeout);
}

}  // namespace iak::bench
