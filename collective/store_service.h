// StoreService: serves a rendezvous Store (rendezvous_store.h) over the RPC
// layer, so any node can host it next to its own requests: the node's
// handler passes each request to Handle() (which takes the store ones) and
// its tick callback calls Tick(). Serve() runs it alone on a listener.
//
// A get or wait whose keys are not set yet is parked, not refused: it is
// answered as soon as a set provides the keys, or with DeadlineExceeded
// naming the missing keys once the request's timeout_ms has passed on this
// node's clock. Nothing ever waits without a deadline.
//
// Limits (StoreServiceOptions): a set is checked before it is stored: the
// writer must pass authorize_write (the scheduler admits only registered
// workers), and key, value, the store's total size and key count, and the
// writer's own bytes (per PeerId::origin) must stay within their limits; a
// refused set gets an error naming the limit and stores nothing. Parked
// requests are bounded too.
//
// Thread-safety: Handle(), Tick() and Serve() run on the server's one
// thread; store() and parked() are thread-safe.
#ifndef IAK_COLLECTIVE_STORE_SERVICE_H_
#define IAK_COLLECTIVE_STORE_SERVICE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collective/rendezvous_store.h"
#include "common/clock.h"
#include "net/rpc.h"

namespace iak::collective {

struct StoreServiceOptions {
  // Called for every set; a non-OK status refuses it (the error is the
  // reply). Empty = every peer may write.
  std::function<Status(const net::RpcCall&)> authorize_write;
  // Longest key. Default 256 bytes.
  size_t max_key_bytes = 256;
  // Largest value. Gloo and NCCL rendezvous values are addresses and ids of
  // a few hundred bytes. Default 1 MiB.
  size_t max_value_bytes = size_t{1} << 20;
  // Keys in the store at once. Default 65536.
  size_t max_keys = 65536;
  // Bytes (keys + values) in the store at once. Default 64 MiB.
  size_t max_total_bytes = size_t{64} << 20;
  // Bytes one writer (PeerId::origin) may have stored. Default 16 MiB.
  size_t max_bytes_per_writer = size_t{16} << 20;
  // Gets and waits parked at once; more are refused. Default 4096.
  size_t max_parked = 4096;
};

class StoreService {
 public:
  // `clock` (not owned) times parked requests; tests may pass a ManualClock.
  explicit StoreService(const Clock* clock = RealClock::Get(),
                        StoreServiceOptions options = StoreServiceOptions())
      : clock_(clock), options_(std::move(options)) {}

  // True when `call` is a store request: it has been answered through
  // `server` or parked. False (and nothing done) for any other request.
  bool Handle(const net::RpcCall& call, net::RpcServer* server);
  // Answers parked requests whose timeout has passed. Call at every tick.
  void Tick(net::RpcServer* server);

  // Serves store requests (and refuses others) on `listener` until `stop`.
  [[nodiscard]] Status Serve(std::unique_ptr<net::Listener> listener,
                             const std::atomic<bool>& stop);

  InMemoryStore* store() { return &store_; }
  // Erases the keys under `prefix` (and what they counted against the
  // limits); returns how many. Use this, not store()->ErasePrefix.
  size_t ErasePrefix(const std::string& prefix);
  // Requests waiting for keys now.
  size_t parked() const { return parked_count_.load(); }

 private:
  struct Parked {
    net::RpcCall call;
    std::vector<std::string> keys;
    TimePoint expires;
  };
  // Replies to a get/wait whose keys are all set; false when some are not.
  bool TryAnswer(const Parked& parked, net::RpcServer* server);
  // Replies to a get/wait whose keys are all set.
  void Answer(const Parked& parked, net::RpcServer* server);
  // Takes the parked requests `done` picks out of parked_ and out of
  // parked() before they are answered, so that whoever holds an answer
  // never sees its request still counted as parked.
  std::vector<Parked> Unpark(const std::function<bool(const Parked&)>& done);
  // OK when the set may be stored (see the limits above).
  Status CheckSet(const net::RpcCall& call) const;
  void AnswerReady(net::RpcServer* server);

  const Clock* clock_;
  StoreServiceOptions options_;
  InMemoryStore store_;
  // What each key costs and who wrote it, for the limits; by key.
  struct Written {
    std::string writer;
    size_t bytes = 0;
  };
  std::map<std::string, Written> written_;
  std::map<std::string, size_t> bytes_by_writer_;
  size_t total_bytes_ = 0;
  std::vector<Parked> parked_;
  std::atomic<size_t> parked_count_{0};  // parked_.size(), readable anywhere
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_STORE_SERVICE_H_
