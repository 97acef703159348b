// ZmqTransport: a Transport over ZeroMQ, for nodes in separate processes or
// on separate hosts.
//
// A Listener is a ROUTER socket, a Connection a DEALER socket. Each frame of a
// net::Message is one part of a ZeroMQ multipart message; on the ROUTER side
// the routing identity of the sending DEALER is prepended by ZeroMQ and
// becomes the PeerId. Addresses:
//   "tcp://host:port"  ("tcp://host:0" binds a free port; address() tells it)
//   "ipc:///path/to/socket"
// Anything else is InvalidArgument.
//
// Behaviour worth knowing:
//  - The listener sets ZMQ_ROUTER_MANDATORY, so replying to a peer that has
//    gone away is Unavailable rather than a silent drop.
//  - Sends never block: when ZeroMQ's queue to the peer is full (the peer is
//    not reading; the high-water mark is options.queue_messages) Send is
//    Unavailable. A listener also counts the bytes it has handed ZeroMQ for
//    each peer and not yet seen written to the wire: a send that would take
//    one peer past max_queued_bytes_per_peer, or all peers past
//    max_queued_bytes_total, is refused (Unavailable) before ZeroMQ holds
//    it, so a peer that never reads cannot grow the server.
//  - A listener drops (disconnects) a peer that sends a message part larger
//    than max_message_bytes; ZeroMQ checks the announced size before it
//    allocates anything.
//  - PeerId::origin is the routing identity up to its connection number
//    ("p<pid>-<random>"), the same for every connection of one transport
//    (one process): the scheduler binds a node to it. Without CURVE it is a
//    claim (unguessable, but visible to whoever can sniff the link), not
//    an authentication.
//  - LINGER is 0: closing a socket drops what was not yet sent and never
//    blocks. Connecting never blocks; messages queue until the peer is up.
//  - Every Receive waits at most until its deadline (zmq_poll).
//
// Ownership and thread-safety: the transport owns its ZeroMQ context (no
// process-wide state) and must outlive every Listener and Connection made
// from it. Listen/Connect may be called from any thread; each Listener or
// Connection must be used by one thread at a time.
#ifndef IAK_NET_ZMQ_TRANSPORT_H_
#define IAK_NET_ZMQ_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "net/curve.h"
#include "net/transport.h"

namespace iak::net {

struct ZmqTransportOptions {
  // When set, every link is CURVE-authenticated and encrypted with this job
  // key (see net/curve.h); a peer without it is refused. Default: plain TCP.
  std::optional<CurveKeyPair> curve;
  // Largest message part a listener accepts (ZMQ_MAXMSGSIZE); a larger one
  // disconnects its sender. 0 = no limit. Default 256 MiB (a push of 1 Mi
  // rows of 64 float32 gradients).
  int64_t max_message_bytes = int64_t{256} << 20;
  // Messages queued per peer and direction (ZMQ_SNDHWM, ZMQ_RCVHWM).
  // Default 100.
  int queue_messages = 100;
  // Bytes a listener may have queued for one peer, not yet written to its
  // socket. Default 128 MiB.
  uint64_t max_queued_bytes_per_peer = uint64_t{128} << 20;
  // The same for all peers of one listener together. Default 512 MiB.
  uint64_t max_queued_bytes_total = uint64_t{512} << 20;
};

class ZmqTransport : public Transport {
 public:
  ZmqTransport();
  explicit ZmqTransport(ZmqTransportOptions options);
  ~ZmqTransport() override;  // every socket made from it must be closed first

  ZmqTransport(const ZmqTransport&) = delete;
  ZmqTransport& operator=(const ZmqTransport&) = delete;

  // Binds a ROUTER socket. InvalidArgument for an unsupported address,
  // Unavailable naming the address when the bind fails (e.g. port in use).
  StatusOr<std::unique_ptr<Listener>> Listen(const std::string& address) override;
  // Creates a DEALER socket connected to `address`. InvalidArgument for an
  // unsupported or malformed address.
  StatusOr<std::unique_ptr<Connection>> Connect(const std::string& address) override;

 private:
  void* context_;  // zmq context; thread-safe
  // Makes DEALER routing identities readable in logs and unique per process.
  std::string identity_prefix_;
  std::atomic<uint64_t> next_connection_{0};
  ZmqTransportOptions options_;
  // Checks CURVE clients' keys; only with options_.curve.
  std::unique_ptr<ZapAuthenticator> authenticator_;

 public:
  // CURVE clients refused by this transport's listeners (tests, logs).
  uint64_t refused_peers() const {
    return authenticator_ == nullptr ? 0 : authenticator_->refused();
  }
};

}  // namespace iak::net

#endif  // IAK_NET_ZMQ_TRANSPORT_H_
