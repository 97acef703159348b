// Network namespaces for multi-host tests on one machine: two namespaces
// ("hosts") joined by a veth pair, each end with an address on 10.77.0.0/24
// (VethNamespaces), or N hosts on one bridge (BridgedHosts).
// Names carry the test process's id and a counter, so concurrent runs never
// collide; the link's names live inside the namespaces, so they cannot clash
// with the machine's own interfaces. The destructor always deletes both
// namespaces (and with them the link).
//
// Needs iproute2 and the right to create namespaces (root or CAP_SYS_ADMIN);
// Create() says why when that is not the case, so a test can skip.
//
// Thread-safety: not thread-safe, except EnterInThisThread().
#ifndef IAK_TESTS_CLUSTER_NETNS_H_
#define IAK_TESTS_CLUSTER_NETNS_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace iak::testing {

class VethNamespaces {
 public:
  // FailedPrecondition with `ip`'s own words when namespaces cannot be made.
  static StatusOr<std::unique_ptr<VethNamespaces>> Create();
  ~VethNamespaces();
  VethNamespaces(const VethNamespaces&) = delete;
  VethNamespaces& operator=(const VethNamespaces&) = delete;

  // Namespace i (0 or 1), its address on the link ("10.77.0.1" / "10.77.0.2").
  const std::string& name(int i) const { return names_.at(i); }
  std::string address(int i) const { return "10.77.0." + std::to_string(i + 1); }

  // argv run inside namespace i: {"ip", "netns", "exec", name(i), argv...}.
  std::vector<std::string> Exec(int i, const std::vector<std::string>& argv) const;

  // Sets namespace i's end of the link down (cut) or up (restore).
  [[nodiscard]] Status SetLink(int i, bool up);

  // Moves the calling thread (only it) into namespace i: sockets it makes
  // afterwards, and threads it starts, live there. Use a dedicated thread.
  [[nodiscard]] Status EnterInThisThread(int i) const;

 private:
  explicit VethNamespaces(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<std::string> names_;
};

// N namespaces ("hosts") on one switch: each host's veth pair ends in a
// bridge inside a further namespace, so every host reaches every other over
// its own address on 10.78.0.0/24 (host i has 10.78.0.<i+1>), as machines on
// one LAN do. Names as VethNamespaces'; the destructor deletes every
// namespace it made (and with them the links and the bridge).
//
// Thread-safety: not thread-safe, except EnterInThisThread().
class BridgedHosts {
 public:
  // FailedPrecondition with `ip`'s own words when namespaces or the bridge
  // cannot be made.
  static StatusOr<std::unique_ptr<BridgedHosts>> Create(int num_hosts);
  ~BridgedHosts();
  BridgedHosts(const BridgedHosts&) = delete;
  BridgedHosts& operator=(const BridgedHosts&) = delete;

  int size() const { return static_cast<int>(hosts_.size()); }
  const std::string& name(int i) const { return hosts_.at(i); }
  std::string address(int i) const { return "10.78.0." + std::to_string(i + 1); }

  // argv run inside host i: {"ip", "netns", "exec", name(i), argv...}.
  std::vector<std::string> Exec(int i, const std::vector<std::string>& argv) const;

  // Moves the calling thread (only it) into host i (see VethNamespaces).
  [[nodiscard]] Status EnterInThisThread(int i) const;

 private:
  BridgedHosts() = default;
  std::vector<std::string> made_;   // every namespace made, switch included
  std::vector<std::string> hosts_;  // the hosts, in order
};

// Moves the calling thread into the named namespace (/var/run/netns/<name>).
[[nodiscard]] Status EnterNamespace(const std::string& name);

// Runs `argv` and returns OK when it exits 0, else an error with its output.
[[nodiscard]] Status RunCommand(const std::vector<std::string>& argv);

}  // namespace iak::testing

#endif  // IAK_TESTS_CLUSTER_NETNS_H_
