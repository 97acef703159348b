#include "cluster/child_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace iak::cluster {

StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::string& name,
                                                            const std::vector<std::string>& argv,
                                                            const std::string& log_path) {
  CHECK(!argv.empty());
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return IoError("cannot open log " + log_path + ": " + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    if (log_fd >= 0) ::close(log_fd);
    return UnavailableError("fork failed for " + name + ": " + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    ::execvp(args[0], args.data());
    const char msg[] = "exec failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(name, pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (!exit_code_.has_value()) Stop(Duration(2000));
}

std::optional<int> ChildProcess::Poll() {
  if (exit_code_.has_value()) return exit_code_;
  int status = 0;
  const pid_t got = ::waitpid(pid_, &status, WNOHANG);
  if (got == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
  } else if (got < 0 && errno == ECHILD) {
    exit_code_ = 255;  // reaped elsewhere; treat as failed
  }
  return exit_code_;
}

StatusOr<int> ChildProcess::Wait(Deadline deadline) {
  // Poll with a short backoff: waitpid has no timeout, and a SIGCHLD handler
  // would be process-global state.
  Duration pause(1);
  while (true) {
    if (std::optional<int> code = Poll()) return *code;
    if (deadline.Expired()) {
      return DeadlineExceededError(name_ + " (pid " + std::to_string(pid_) +
                                   ") still running at the deadline");
    }
    std::this_thread::sleep_for(pause);
    if (pause < Duration(50)) pause *= 2;
  }
}

void ChildProcess::Stop(Duration grace) {
  if (Poll().has_value()) return;
  ::kill(pid_, SIGTERM);
  if (Wait(Deadline::After(grace)).ok()) return;
  ::kill(pid_, SIGKILL);
  Wait(Deadline::After(Duration(5000))).status().IgnoreError();
}

void StopAll(const std::vector<std::unique_ptr<ChildProcess>>& children, Duration grace) {
  for (const auto& child : children) {
    if (!child->Poll().has_value()) ::kill(child->pid(), SIGTERM);
  }
  const Deadline deadline = Deadline::After(grace);
  for (const auto& child : children) child->Wait(deadline).status().IgnoreError();
  for (const auto& child : children) child->Stop(Duration(100));  // SIGKILL stragglers
}

namespace {

// (pid, parent pid, state) of every process, from /proc/<pid>/stat.
struct ProcEntry {
  pid_t pid;
  pid_t ppid;
  char state;
};

std::vector<ProcEntry> ListProcesses() {
  std::vector<ProcEntry> entries;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return entries;
  while (dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    const std::string path = std::string("/proc/") + entry->d_name + "/stat";
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) continue;
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const char* close = std::strrchr(buf, ')');
    if (close == nullptr) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(close + 1, " %c %d", &state, &ppid) != 2) continue;
    entries.push_back({static_cast<pid_t>(pid), static_cast<pid_t>(ppid), state});
  }
  ::closedir(proc);
  return entries;
}

// `roots` and all their descendants that are still alive (not zombies).
std::vector<pid_t> LiveTree(const std::vector<pid_t>& roots) {
  const std::vector<ProcEntry> all = ListProcesses();
  std::vector<pid_t> tree = roots;
  for (size_t i = 0; i < tree.size(); ++i) {
    for (const ProcEntry& e : all) {
      if (e.ppid == tree[i]) tree.push_back(e.pid);
    }
  }
  std::vector<pid_t> live;
  for (pid_t pid : tree) {
    for (const ProcEntry& e : all) {
      if (e.pid == pid && e.state != 'Z' && e.state != 'X') live.push_back(pid);
    }
  }
  return live;
}

}  // namespace

void KillAllTrees(const std::vector<std::unique_ptr<ChildProcess>>& children,
                  Deadline deadline) {
  std::vector<pid_t> roots;
  for (const auto& child : children) {
    if (!child->Poll().has_value()) roots.push_back(child->pid());
  }
  // The whole tree is listed before anything is signalled (a killed parent's
  // children are re-parented and could no longer be found); every round
  // signals what is still alive of it, and what those have forked since.
  std::vector<pid_t> tracked = LiveTree(roots);
  Duration pause(1);
  while (!tracked.empty()) {
    for (pid_t pid : tracked) ::kill(pid, SIGKILL);
    for (const auto& child : children) child->Poll();  // reap our own
    if (deadline.Expired()) break;
    std::this_thread::sleep_for(pause);
    if (pause < Duration(20)) pause *= 2;
    tracked = LiveTree(tracked);
  }
  for (const auto& child : children) child->Wait(deadline).status().IgnoreError();
}

StatusOr<int> RunAndCapture(const std::vector<std::string>& argv, Deadline deadline,
                            std::string* output) {
  char pattern[] = "/tmp/iak_capture_XXXXXX";
  const int fd = ::mkstemp(pattern);
  if (fd < 0) return IoError(std::string("cannot create a temp file: ") + std::strerror(errno));
  ::close(fd);
  const std::string path = pattern;
  StatusOr<int> code = [&]() -> StatusOr<int> {
    IAK_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> child,
                         ChildProcess::Start(argv[0], argv, path));
    return child->Wait(deadline);
  }();
  output->clear();
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) output->append(buf, n);
    std::fclose(f);
  }
  std::remove(path.c_str());
  return code;
}

std::string SelfExecutablePath() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "iak";
  buf[n] = '\0';
  return buf;
}

}  // namespace iak::cluster
