// The RPC layer over a Transport: request ids, deadlines, error replies, and
// decoding of the Envelope (the one place where frames become protos).
//
// A request is frame 0 = serialized proto::Envelope, frames 1.. = payload.
// A reply carries the request's id; an error reply has error_code != 0 and
// becomes a Status on the caller's side. A garbled frame is a DataLoss error
// naming the peer, never a crash.
#ifndef IAK_NET_RPC_H_
#define IAK_NET_RPC_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "net/log_field.h"
#include "net/transport.h"
#include "proto/wire.pb.h"

namespace iak::net {

struct RpcReply {
  proto::Envelope header;
  std::vector<Frame> payload;
};

// Client for one peer. Not thread-safe: one thread drives it. Several requests
// may be in flight at once (Send several, then Await each).
class RpcClient {
 public:
  RpcClient(std::unique_ptr<Connection> connection, std::string self_name);

  // Sends a request and returns its id (set in the envelope by this call).
  [[nodiscard]] StatusOr<uint64_t> Send(proto::Envelope request,
                                        std::vector<Frame> payload = {});
  // Waits for the reply to request `id` until `deadline`. Replies to other
  // (abandoned) requests that arrive meanwhile are dropped. An error reply
  // becomes its Status; a timeout is DeadlineExceeded naming the peer.
  [[nodiscard]] StatusOr<RpcReply> Await(uint64_t id, Deadline deadline);
  // As Await, but gives up early, returning no reply, once `abandon()` is
  // true; it is asked every `poll` while no reply has come (null: never).
  // For long waits (a barrier) whose peer may be found gone by other means
  // (missed heartbeats).
  [[nodiscard]] StatusOr<std::optional<RpcReply>> AwaitUnless(
      uint64_t id, Deadline deadline, const std::function<bool()>& abandon, Duration poll);
  // Send + Await.
  [[nodiscard]] StatusOr<RpcReply> Call(proto::Envelope request,
                                        std::vector<Frame> payload, Deadline deadline);

  const std::string& peer_address() const { return peer_address_; }

 private:
  std::unique_ptr<Connection> connection_;
  std::string self_name_;
  std::string peer_address_;
  uint64_t next_id_ = 1;
  std::set<uint64_t> in_flight_;  // sent and not yet awaited
  // Replies that arrived while awaiting another id (in-flight pipelining).
  std::vector<RpcReply> early_;
};

// One request received by a server; Reply() to it now or later.
struct RpcCall {
  PeerId peer;
  proto::Envelope request;
  std::vector<Frame> payload;
};

struct RpcServerOptions {
  // How often the loop wakes when idle to run the tick callback and check
  // the stop flag. Default: 20 ms.
  Duration tick = Duration(20);
  std::string name = "server";  // for logs and replies' sender field
  // Lines per window for warnings about what peers sent (garbled messages
  // here; refusals in the servers that use log_limiter()). Default 20 per 10 s.
  LogRateLimitOptions log_limit;
  // The longest sender name kept; a request's sender field is escaped
  // (net/log_field.h) and cut to this before any handler sees it, so every
  // log line and error reply that names the sender is one safe field.
  // Default 64.
  size_t max_sender_bytes = 64;
};

// Serves requests from one Listener on the calling thread. Handlers run on
// that thread and may keep an RpcCall to reply to later (barriers do).
class RpcServer {
 public:
  using Handler = std::function<void(RpcCall call)>;

  RpcServer(std::unique_ptr<Listener> listener, RpcServerOptions options);

  // Runs until `stop` becomes true. `handler` gets each well-formed request;
  // `on_tick` (may be empty) runs at least every options.tick.
  void Run(const std::atomic<bool>& stop, const Handler& handler,
           const std::function<void()>& on_tick);

  [[nodiscard]] Status Reply(const RpcCall& call, proto::Envelope reply,
                             std::vector<Frame> payload = {});
  [[nodiscard]] Status ReplyError(const RpcCall& call, const Status& error);

  std::string address() const { return listener_->address(); }
  // Shared by everything that logs about peers' requests on this server.
  LogRateLimiter* log_limiter() { return &log_limiter_; }

 private:
  std::unique_ptr<Listener> listener_;
  RpcServerOptions options_;
  LogRateLimiter log_limiter_;
};

// Frames <-> envelope, shared by client and server.
Message EncodeMessage(const proto::Envelope& header, std::vector<Frame> payload);
[[nodiscard]] Status DecodeMessage(Message message, const std::string& from,
                                   proto::Envelope* header, std::vector<Frame>* payload);

}  // namespace iak::net

#endif  // IAK_NET_RPC_H_
