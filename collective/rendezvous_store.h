// Store: the small key-value interface ranks use to find each other when a
// collective group is formed (rendezvous). Each rank publishes its address
// under a key and waits for the others' keys; a group formed at membership
// epoch E uses keys prefixed with E, so groups of different epochs never mix.
//
// Two implementations:
//   InMemoryStore - ranks are threads of one process (tests, single process).
//   RpcStore      - a client of a StoreService (store_service.h) hosted by any
//                   node (the scheduler in an elastic job) over net::Transport,
//                   so it works on every transport (ZeroMQ TCP, in-process).
//
// Every call takes a Deadline: a rank that never publishes its key yields
// DeadlineExceeded naming the missing keys, never a hang.
//
// Thread-safety: both implementations are thread-safe.
#ifndef IAK_COLLECTIVE_RENDEZVOUS_STORE_H_
#define IAK_COLLECTIVE_RENDEZVOUS_STORE_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "net/rpc.h"
#include "net/transport.h"

namespace iak::collective {

class Store {
 public:
  virtual ~Store() = default;
  // Sets `key` to `value` (overwriting). Unavailable when the store is down.
  [[nodiscard]] virtual Status Set(const std::string& key, const std::string& value,
                                   Deadline deadline) = 0;
  // Waits until `key` is set, then returns its value. DeadlineExceeded when it
  // is not set before `deadline`.
  [[nodiscard]] virtual StatusOr<std::string> Get(const std::string& key, Deadline deadline) = 0;
  // Waits until every key in `keys` is set. DeadlineExceeded naming the keys
  // still missing at `deadline`.
  [[nodiscard]] virtual Status Wait(const std::vector<std::string>& keys, Deadline deadline) = 0;
};

// A map guarded by a mutex, with waiters woken on every Set.
class InMemoryStore : public Store {
 public:
  Status Set(const std::string& key, const std::string& value, Deadline deadline) override;
  StatusOr<std::string> Get(const std::string& key, Deadline deadline) override;
  Status Wait(const std::vector<std::string>& keys, Deadline deadline) override;

  // Non-blocking lookup (used by StoreService): true and *value when set.
  bool TryGet(const std::string& key, std::string* value) const;
  // The keys of `keys` not set yet.
  std::vector<std::string> Missing(const std::vector<std::string>& keys) const;
  // Drops every key starting with `prefix` (an old epoch's); returns how many.
  size_t ErasePrefix(const std::string& prefix);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> values_;  // guarded by mu_
};

struct RpcStoreOptions {
  // The sender name in requests (for the service's logs). Default "store-client".
  std::string self_name = "store-client";
};

// A client of a StoreService at `address`, reached over `transport` (not
// owned; must outlive this object). Calls are serialised by a mutex because
// one RpcClient carries them all.
class RpcStore : public Store {
 public:
  // Connecting never blocks (see net::Transport::Connect); a service that is
  // not up is caught by the first call's deadline.
  [[nodiscard]] static StatusOr<std::unique_ptr<RpcStore>> Connect(net::Transport* transport,
                                                                   const std::string& address,
                                                                   RpcStoreOptions options = {});

  Status Set(const std::string& key, const std::string& value, Deadline deadline) override;
  StatusOr<std::string> Get(const std::string& key, Deadline deadline) override;
  Status Wait(const std::vector<std::string>& keys, Deadline deadline) override;

 private:
  explicit RpcStore(std::unique_ptr<net::RpcClient> client) : client_(std::move(client)) {}
  StatusOr<net::RpcReply> Call(proto::Envelope request, Deadline deadline);

  std::mutex mu_;
  std::unique_ptr<net::RpcClient> client_;  // guarded by mu_
};

// "'a', 'b'": rendezvous keys as error messages name them.
std::string DescribeKeys(const std::vector<std::string>& keys);

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_RENDEZVOUS_STORE_H_
