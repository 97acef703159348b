#include "tests/cluster/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "cluster/child_process.h"

namespace iak::testing {

namespace {

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

}  // namespace

Status RunCommand(const std::vector<std::string>& argv) {
  std::string output;
  StatusOr<int> code = cluster::RunAndCapture(argv, Deadline::After(Duration(20000)), &output);
  if (!code.ok()) return code.status().WithContext("`" + Join(argv) + "`");
  if (*code != 0) {
    return FailedPreconditionError("`" + Join(argv) + "` exited with " + std::to_string(*code) +
                                   ": " + output);
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<VethNamespaces>> VethNamespaces::Create() {
  static std::atomic<int> counter{0};
  const std::string base = "iak-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::vector<std::string> names = {base + "-a", base + "-b"};
  // From here on the destructor removes whatever was made.
  std::unique_ptr<VethNamespaces> made(new VethNamespaces({}));
  for (const std::string& name : names) {
    Status added = RunCommand({"ip", "netns", "add", name});
    if (!added.ok()) {
      return FailedPreconditionError("cannot create network namespaces here (" +
                                     added.message() + "); they need root or CAP_SYS_ADMIN");
    }
    made->names_.push_back(name);
  }
  // The pair is created inside namespace a, its peer end moved into b.
  const std::vector<std::vector<std::string>> setup = {
      {"ip", "-n", names[0], "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
       "netns", names[1]},
      {"ip", "-n", names[0], "addr", "add", made->address(0) + "/24", "dev", "veth-a"},
      {"ip", "-n", names[1], "addr", "add", made->address(1) + "/24", "dev", "veth-b"},
      {"ip", "-n", names[0], "link", "set", "lo", "up"},
      {"ip", "-n", names[1], "link", "set", "lo", "up"},
      {"ip", "-n", names[0], "link", "set", "veth-a", "up"},
      {"ip", "-n", names[1], "link", "set", "veth-b", "up"},
  };
  for (const auto& argv : setup) IAK_RETURN_IF_ERROR(RunCommand(argv));
  return made;
}

VethNamespaces::~VethNamespaces() {
  for (const std::string& name : names_) {
    Status deleted = RunCommand({"ip", "netns", "del", name});
    if (!deleted.ok()) LOG(WARNING) << "could not delete network namespace: " << deleted;
  }
}

std::vector<std::string> VethNamespaces::Exec(int i, const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name(i)};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

Status VethNamespaces::SetLink(int i, bool up) {
  return RunCommand({"ip", "-n", name(i), "link", "set", i == 0 ? "veth-a" : "veth-b",
                     up ? "up" : "down"});
}

Status VethNamespaces::EnterInThisThread(int i) const {
  const std::string path = "/var/run/netns/" + name(i);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return FailedPreconditionError("setns into " + name(i) + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace iak::testing
