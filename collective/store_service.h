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
// Thread-safety: Handle(), Tick() and Serve() run on the server's one
// thread; store() and parked() are thread-safe.
#ifndef IAK_COLLECTIVE_STORE_SERVICE_H_
#define IAK_COLLECTIVE_STORE_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collective/rendezvous_store.h"
#include "common/clock.h"
#include "net/rpc.h"

namespace iak::collective {

class StoreService {
 public:
  // `clock` (not owned) times parked requests; tests may pass a ManualClock.
  explicit StoreService(const Clock* clock = RealClock::Get()) : clock_(clock) {}

  // True when `call` is a store request: it has been answered through
  // `server` or parked. False (and nothing done) for any other request.
  bool Handle(const net::RpcCall& call, net::RpcServer* server);
  // Answers parked requests whose timeout has passed. Call at every tick.
  void Tick(net::RpcServer* server);

  // Serves store requests (and refuses others) on `listener` until `stop`.
  [[nodiscard]] Status Serve(std::unique_ptr<net::Listener> listener,
                             const std::atomic<bool>& stop);

  InMemoryStore* store() { return &store_; }
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
  void AnswerReady(net::RpcServer* server);

  const Clock* clock_;
  InMemoryStore store_;
  std::vector<Parked> parked_;
  std::atomic<size_t> parked_count_{0};  // parked_.size(), readable anywhere
};

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_STORE_SERVICE_H_
