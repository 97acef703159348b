// Network namespaces for multi-host tests on one machine: two namespaces
// ("hosts") joined by a veth pair, each end with an address on 10.77.0.0/24.
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

// Runs `argv` and returns OK when it exits 0, else an error with its output.
[[nodiscard]] Status RunCommand(const std::vector<std::string>& argv);

}  // namespace iak::testing

#endif  // IAK_TESTS_CLUSTER_NETNS_H_
