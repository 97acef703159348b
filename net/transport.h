// Transport: moves Messages between nodes. It knows nothing of requests,
// retries or what a message means (that is the RPC layer's job).
//
// Addresses are URLs: "tcp://127.0.0.1:5555" and "ipc:///tmp/x" for ZeroMQ,
// "inproc://name" for the in-process transport. Listening on port 0
// ("tcp://127.0.0.1:0") picks a free port; Listener::address() tells which.
//
// Thread-safety: a Transport is thread-safe. A Listener or Connection must be
// used by one thread at a time (as ZeroMQ sockets must).
#ifndef IAK_NET_TRANSPORT_H_
#define IAK_NET_TRANSPORT_H_

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "net/message.h"

namespace iak::net {

// The server side: receives requests from many peers, replies to each.
class Listener {
 public:
  virtual ~Listener() = default;
  // Waits until `deadline` for a message. DeadlineExceeded when none came.
  virtual Status Receive(Incoming* incoming, Deadline deadline) = 0;
  // Sends `message` to `to`. Unavailable when the peer is gone.
  virtual Status Send(const PeerId& to, Message message) = 0;
  // The address peers connect to (with the real port when bound to port 0).
  virtual std::string address() const = 0;
};

// The client side: one connection to one listener.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Status Send(Message message) = 0;
  // Waits until `deadline` for a message. DeadlineExceeded when none came.
  virtual Status Receive(Message* message, Deadline deadline) = 0;
  virtual std::string peer_address() const = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual StatusOr<std::unique_ptr<Listener>> Listen(const std::string& address) = 0;
  // Connecting never blocks: a listener that is not up yet is reached once it
  // is (messages queue meanwhile); a reply that never comes is the caller's
  // deadline to catch.
  virtual StatusOr<std::unique_ptr<Connection>> Connect(const std::string& address) = 0;
};

}  // namespace iak::net

#endif  // IAK_NET_TRANSPORT_H_
