#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

namespace iak {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

// Closes a file descriptor on every path out of a function.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and reports whether the close succeeded (it can surface a
  // deferred write error).
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

}  // namespace

Status ReadFileToString(const std::string& path, std::string* contents) {
  contents->clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError(path + " does not exist");
    return IoError("cannot open " + path + ": " + ErrnoText(err));
  }
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) contents->reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read " + path + ": " + ErrnoText(errno));
    }
    contents->append(buffer, static_cast<size_t>(got));
  }
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  // A temporary name of this writer's own: two processes or threads writing
  // the same file at once (e.g. every trainable server finalizing the same
  // snapshot) each rename a complete file; the last rename wins.
  static std::atomic<uint64_t> next_writer{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                           std::to_string(next_writer.fetch_add(1));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create " + temp + ": " + ErrnoText(errno));
  FdCloser closer(fd);
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t wrote = ::write(fd, p, left);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::unlink(temp.c_str());
      return IoError("cannot write " + temp + ": " + ErrnoText(err));
    }
    p += wrote;
    left -= static_cast<size_t>(wrote);
  }
  if (::fsync(fd) != 0 || !closer.Close()) {
    const int err = errno;
    ::unlink(temp.c_str());
    return IoError("cannot flush " + temp + ": " + ErrnoText(err));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return IoError("cannot rename " + temp + " to " + path + ": " + ErrnoText(err));
  }
  return Status::Ok();
}

Status CreateDirectories(const std::string& dir, const std::string& hint) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (!error) return Status::Ok();
  return IoError("cannot create " + dir + ": " + error.message() +
                 (hint.empty() ? "" : "; " + hint));
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) bytes += it->file_size(ec);
  }
  return bytes;
}

}  // namespace iak
