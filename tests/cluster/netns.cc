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

Status VethNamespaces::EnterInThisThread(int i) const { return EnterNamespace(name(i)); }

StatusOr<std::unique_ptr<BridgedHosts>> BridgedHosts::Create(int num_hosts) {
  static std::atomic<int> counter{0};
  const std::string base = "iakb-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::unique_ptr<BridgedHosts> made(new BridgedHosts());
  const std::string hub = base + "-sw";
  auto add = [&made](const std::string& name) -> Status {
    Status added = RunCommand({"ip", "netns", "add", name});
    if (!added.ok()) {
      return FailedPreconditionError("cannot create network namespaces here (" +
                                     added.message() + "); they need root or CAP_SYS_ADMIN");
    }
    made->made_.push_back(name);
    return Status::Ok();
  };
  IAK_RETURN_IF_ERROR(add(hub));
  Status bridge = RunCommand({"ip", "-n", hub, "link", "add", "br0", "type", "bridge"});
  if (!bridge.ok()) {
    return FailedPreconditionError("cannot create a bridge in a network namespace (" +
                                   bridge.message() + "); the kernel needs the bridge module");
  }
  IAK_RETURN_IF_ERROR(RunCommand({"ip", "-n", hub, "link", "set", "br0", "up"}));
  for (int i = 0; i < num_hosts; ++i) {
    const std::string host = base + "-h" + std::to_string(i);
    IAK_RETURN_IF_ERROR(add(host));
    made->hosts_.push_back(host);
    const std::string port = "port" + std::to_string(i);
    // The pair is created in the switch, its host end moved into the host.
    const std::vector<std::vector<std::string>> setup = {
        {"ip", "-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
         host},
        {"ip", "-n", hub, "link", "set", port, "master", "br0"},
        {"ip", "-n", hub, "link", "set", port, "up"},
        {"ip", "-n", host, "addr", "add", made->address(i) + "/24", "dev", "eth0"},
        {"ip", "-n", host, "link", "set", "lo", "up"},
        {"ip", "-n", host, "link", "set", "eth0", "up"},
    };
    for (const auto& argv : setup) IAK_RETURN_IF_ERROR(RunCommand(argv));
  }
  return made;
}

BridgedHosts::~BridgedHosts() {
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    Status deleted = RunCommand({"ip", "netns", "del", *it});
    if (!deleted.ok()) LOG(WARNING) << "could not delete network namespace: " << deleted;
  }
}

std::vector<std::string> BridgedHosts::Exec(int i, const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name(i)};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

Status BridgedHosts::EnterInThisThread(int i) const { return EnterNamespace(name(i)); }

Status EnterNamespace(const std::string& name) {
  const std::string path = "/var/run/netns/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return FailedPreconditionError("setns into " + name + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace iak::testing
