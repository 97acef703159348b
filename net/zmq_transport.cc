#include "net/zmq_transport.h"

#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/log_field.h"

namespace iak::net {
namespace {

constexpr char kTcp[] = "tcp://";
constexpr char kIpc[] = "ipc://";

bool StartsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Routing identities of foreign peers may be binary or long; keep logs to
// one short readable field.
std::string Printable(const std::string& bytes) { return EscapeForLog(bytes, 64); }

// "p<pid>-<random>-<n>" (made by ZmqTransport::Connect) -> "p<pid>-<random>";
// any other identity is its own origin.
std::string OriginOf(const std::string& id) {
  const size_t last = id.rfind('-');
  if (id.empty() || id[0] != 'p' || last == std::string::npos || last == 0 ||
      id.find('-') == last) {
    return id;
  }
  return id.substr(0, last);
}

// Bytes a listener has handed ZeroMQ and ZeroMQ has not freed yet (freed =
// written to the socket, or dropped). Decremented on ZeroMQ's I/O thread.
using ByteCounter = std::atomic<uint64_t>;

struct QueuedBytes {
  std::shared_ptr<ByteCounter> total = std::make_shared<ByteCounter>(0);
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<ByteCounter>> by_peer;  // guarded by mu

  std::shared_ptr<ByteCounter> ForPeer(const std::string& peer) {
    std::lock_guard<std::mutex> lock(mu);
    if (by_peer.size() > 4096) {  // forget idle peers now and then
      for (auto it = by_peer.begin(); it != by_peer.end();) {
        it = it->second->load() == 0 ? by_peer.erase(it) : std::next(it);
      }
    }
    std::shared_ptr<ByteCounter>& counter = by_peer[peer];
    if (counter == nullptr) counter = std::make_shared<ByteCounter>(0);
    return counter;
  }
};

// Status for a failed zmq call; `errnum` is zmq_errno() taken right after it.
Status ZmqError(int errnum, const std::string& what) {
  const std::string text = what + ": " + zmq_strerror(errnum);
  if (errnum == ETERM) return CancelledError(text + " (transport shutting down)");
  return UnavailableError(text);
}

// "tcp://host:0" -> "tcp://host:*" when binding; validates the scheme.
StatusOr<std::string> ToEndpoint(const std::string& address, bool bind) {
  if (StartsWith(address, kTcp)) {
    const std::string rest = address.substr(sizeof(kTcp) - 1);
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
      return InvalidArgumentError("address '" + address +
                                  "' needs a host and a port, e.g. tcp://127.0.0.1:5555");
    }
    if (bind && rest.substr(colon + 1) == "0") {
      return std::string(kTcp) + rest.substr(0, colon) + ":*";
    }
    return address;
  }
  if (StartsWith(address, kIpc)) {
    if (address.size() == sizeof(kIpc) - 1) {
      return InvalidArgumentError("address '" + address +
                                  "' needs a path, e.g. ipc:///tmp/iak-scheduler");
    }
    return address;
  }
  return InvalidArgumentError("unsupported address '" + address +
                              "': the ZeroMQ transport takes tcp://host:port or ipc:///path");
}

void* NewSocket(void* context, int type, Status* status) {
  void* socket = zmq_socket(context, type);
  if (socket == nullptr) {
    *status = ZmqError(zmq_errno(), "cannot create a ZeroMQ socket");
    return nullptr;
  }
  const int zero = 0;
  zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof(zero));
  return socket;
}

// Milliseconds until `deadline`, rounded up so a poll never wakes early and
// spins; capped so the int never overflows (the caller loops).
int PollTimeoutMs(const Deadline& deadline) {
  const auto left = deadline.when() - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
  const int64_t ms = (us + 999) / 1000;
  return static_cast<int>(ms > 3600 * 1000 ? 3600 * 1000 : ms);
}

// Frames up to this size are copied out of ZeroMQ's message; larger ones are
// kept in it (no copy) and released with the frame.
constexpr size_t kCopyFrameBytes = 1024;

void CloseHeldMessage(char* /*data*/, void* hint) {
  auto* held = static_cast<zmq_msg_t*>(hint);
  zmq_msg_close(held);
  delete held;
}

// Receives one whole multipart message into `parts`.
Status ReceiveParts(void* socket, Deadline deadline, const std::string& where,
                    std::vector<Frame>* parts) {
  while (true) {
    zmq_pollitem_t item{socket, 0, ZMQ_POLLIN, 0};
    const int ready = zmq_poll(&item, 1, PollTimeoutMs(deadline));
    if (ready < 0) {
      const int err = zmq_errno();
      if (err == EINTR) continue;
      return ZmqError(err, "polling " + where);
    }
    if (ready == 0) {
      if (deadline.Expired()) return DeadlineExceededError("no message on " + where +
                                                           " before the deadline");
      continue;
    }
    parts->clear();
    while (true) {
      auto held = std::make_unique<zmq_msg_t>();
      zmq_msg_init(held.get());
      if (zmq_msg_recv(held.get(), socket, ZMQ_DONTWAIT) < 0) {
        const int err = zmq_errno();
        zmq_msg_close(held.get());
        if (err == EAGAIN && parts->empty()) break;  // spurious wake-up: poll again
        if (err == EINTR) continue;
        return ZmqError(err, "receiving on " + where);
      }
      const bool more = zmq_msg_more(held.get()) != 0;
      char* data = static_cast<char*>(zmq_msg_data(held.get()));
      const size_t size = zmq_msg_size(held.get());
      if (size <= kCopyFrameBytes) {
        parts->emplace_back(data, size);
        zmq_msg_close(held.get());
      } else {
        parts->push_back(Frame::Adopt(data, size, &CloseHeldMessage, held.get()));
        held.release();
      }
      if (!more) return Status::Ok();
    }
  }
}

// A frame handed to ZeroMQ, with the counters it is charged to (may be null).
struct OwnedFrame {
  Frame bytes;
  std::shared_ptr<ByteCounter> peer;
  std::shared_ptr<ByteCounter> total;
};

void FreeFrame(void* /*data*/, void* hint) {
  auto* frame = static_cast<OwnedFrame*>(hint);
  const uint64_t size = frame->bytes.size();
  if (frame->peer != nullptr) frame->peer->fetch_sub(size);
  if (frame->total != nullptr) frame->total->fetch_sub(size);
  delete frame;
}

// Counters a listener charges a reply's frames to.
struct Charge {
  std::shared_ptr<ByteCounter> peer;
  std::shared_ptr<ByteCounter> total;
};

// Sends one part without blocking. Payload bytes are handed to ZeroMQ without
// a copy: the frame is moved to the heap and freed by ZeroMQ once sent.
Status SendPart(void* socket, Frame bytes, bool more, const std::string& peer,
                const Charge* charge = nullptr) {
  zmq_msg_t part;
  if (bytes.empty()) {
    zmq_msg_init(&part);
  } else {
    auto* owned = new OwnedFrame{std::move(bytes), nullptr, nullptr};
    if (charge != nullptr) {
      owned->peer = charge->peer;
      owned->total = charge->total;
      owned->peer->fetch_add(owned->bytes.size());
      owned->total->fetch_add(owned->bytes.size());
    }
    zmq_msg_init_data(&part, owned->bytes.data(), owned->bytes.size(), &FreeFrame, owned);
  }
  const int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);
  while (zmq_msg_send(&part, socket, flags) < 0) {
    const int err = zmq_errno();
    if (err == EINTR) continue;
    zmq_msg_close(&part);
    if (err == EHOSTUNREACH) return UnavailableError("peer " + peer + " is gone (disconnected)");
    if (err == EAGAIN) {
      return UnavailableError("the queue to " + peer +
                              " is full; the peer is not reading its messages");
    }
    return ZmqError(err, "sending to " + peer);
  }
  return Status::Ok();
}

Status SendFrames(void* socket, Message message, const std::string& peer,
                  const Charge* charge = nullptr) {
  if (message.frames.empty()) {
    return InvalidArgumentError("refusing to send an empty message to " + peer);
  }
  const size_t n = message.frames.size();
  for (size_t i = 0; i < n; ++i) {
    IAK_RETURN_IF_ERROR(SendPart(socket, std::move(message.frames[i]), i + 1 < n, peer, charge));
  }
  return Status::Ok();
}

class ZmqListener : public Listener {
 public:
  ZmqListener(void* socket, std::string address, const ZmqTransportOptions& options)
      : socket_(socket),
        address_(std::move(address)),
        max_queued_per_peer_(options.max_queued_bytes_per_peer),
        max_queued_total_(options.max_queued_bytes_total) {}
  ~ZmqListener() override { zmq_close(socket_); }

  Status Receive(Incoming* incoming, Deadline deadline) override {
    std::vector<Frame> parts;
    IAK_RETURN_IF_ERROR(ReceiveParts(socket_, deadline, address_, &parts));
    if (parts.size() < 2) {
      // A DEALER always sends at least one part after ZeroMQ's identity.
      return DataLossError("message without a body on " + address_ + " from peer " +
                           Printable(parts.empty() ? std::string() : parts[0].ToString()));
    }
    incoming->from.id = parts[0].ToString();
    incoming->from.origin = OriginOf(incoming->from.id);
    incoming->message.frames.assign(std::make_move_iterator(parts.begin() + 1),
                                    std::make_move_iterator(parts.end()));
    return Status::Ok();
  }

  Status Send(const PeerId& to, Message message) override {
    const std::string peer = Printable(to.id);
    if (message.frames.empty()) {
      return InvalidArgumentError("refusing to send an empty message to " + peer);
    }
    uint64_t bytes = 0;
    for (const Frame& frame : message.frames) bytes += frame.size();
    Charge charge{queued_.ForPeer(to.id), queued_.total};
    const uint64_t peer_queued = charge.peer->load();
    const uint64_t total_queued = charge.total->load();
    if (peer_queued + bytes > max_queued_per_peer_) {
      return UnavailableError("not sending " + std::to_string(bytes) + " bytes to " + peer +
                              ": " + std::to_string(peer_queued) +
                              " bytes to it are still unread (limit " +
                              std::to_string(max_queued_per_peer_) +
                              "); the peer is not reading its replies");
    }
    if (total_queued + bytes > max_queued_total_) {
      return UnavailableError("not sending " + std::to_string(bytes) + " bytes to " + peer +
                              ": " + std::to_string(total_queued) +
                              " bytes to all peers are still unread (limit " +
                              std::to_string(max_queued_total_) + ")");
    }
    IAK_RETURN_IF_ERROR(SendPart(socket_, to.id, /*more=*/true, peer));
    return SendFrames(socket_, std::move(message), peer, &charge);
  }

  std::string address() const override { return address_; }

 private:
  void* socket_;
  std::string address_;  // the real endpoint (port filled in)
  const uint64_t max_queued_per_peer_;
  const uint64_t max_queued_total_;
  QueuedBytes queued_;
};

class ZmqConnection : public Connection {
 public:
  ZmqConnection(void* socket, std::string peer_address)
      : socket_(socket), peer_address_(std::move(peer_address)) {}
  ~ZmqConnection() override { zmq_close(socket_); }

  Status Send(Message message) override {
    return SendFrames(socket_, std::move(message), peer_address_);
  }

  Status Receive(Message* message, Deadline deadline) override {
    return ReceiveParts(socket_, deadline, "the connection to " + peer_address_,
                        &message->frames);
  }

  std::string peer_address() const override { return peer_address_; }

 private:
  void* socket_;
  std::string peer_address_;
};

}  // namespace

ZmqTransport::ZmqTransport() : ZmqTransport(ZmqTransportOptions()) {}

ZmqTransport::ZmqTransport(ZmqTransportOptions options)
    : context_(zmq_ctx_new()), options_(std::move(options)) {
  CHECK(context_ != nullptr) << "cannot create a ZeroMQ context: " << zmq_strerror(zmq_errno());
  // Never let terminating the context wait for unsent messages.
  zmq_ctx_set(context_, ZMQ_BLOCKY, 0);
  std::random_device entropy;
  // 64 random bits: the prefix is this process's origin (see the header),
  // which the scheduler binds nodes to.
  char buf[48];
  std::snprintf(buf, sizeof(buf), "p%d-%08x%08x-", static_cast<int>(getpid()), entropy(),
                entropy());
  identity_prefix_ = buf;
  if (options_.curve.has_value()) {
    authenticator_ = std::make_unique<ZapAuthenticator>(context_, options_.curve->public_key);
    Status started = authenticator_->Start();
    CHECK(started.ok()) << started;  // an in-process bind on a fresh context cannot clash
  }
}

ZmqTransport::~ZmqTransport() {
  authenticator_.reset();  // its socket must close before the context ends
  while (zmq_ctx_term(context_) != 0 && zmq_errno() == EINTR) {
  }
}

StatusOr<std::unique_ptr<Listener>> ZmqTransport::Listen(const std::string& address) {
  IAK_ASSIGN_OR_RETURN(const std::string endpoint, ToEndpoint(address, /*bind=*/true));
  Status status;
  void* socket = NewSocket(context_, ZMQ_ROUTER, &status);
  if (socket == nullptr) return status;
  const int one = 1;
  // Unroutable replies fail loudly instead of vanishing.
  zmq_setsockopt(socket, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
  // A peer that reconnects under the same identity takes over its old route.
  zmq_setsockopt(socket, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
  // Bounds checked by ZeroMQ itself, before it buffers a peer's bytes.
  const int64_t max_message = options_.max_message_bytes > 0 ? options_.max_message_bytes : -1;
  zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max_message, sizeof(max_message));
  const int hwm = options_.queue_messages;
  zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof(hwm));
  zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof(hwm));
  if (options_.curve.has_value()) {
    // CURVE server: clients must know the job's public key, and the ZAP
    // handler accepts only clients that hold the job's key themselves.
    const std::string& secret = options_.curve->secret_key;
    zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof(one));
    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret.c_str(), secret.size());
    zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, "iak", 3);
  }
  if (zmq_bind(socket, endpoint.c_str()) != 0) {
    const int err = zmq_errno();
    zmq_close(socket);
    return UnavailableError("cannot listen on " + address + ": " + zmq_strerror(err) +
                            (err == EADDRINUSE ? "; is another node already using this port?"
                                               : ""));
  }
  char last[1024];
  size_t size = sizeof(last);
  std::string real = address;
  if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, last, &size) == 0 && size > 1) {
    real.assign(last, size - 1);  // size counts the terminating NUL
  }
  std::unique_ptr<Listener> listener = std::make_unique<ZmqListener>(socket, real, options_);
  return listener;
}

StatusOr<std::unique_ptr<Connection>> ZmqTransport::Connect(const std::string& address) {
  IAK_ASSIGN_OR_RETURN(const std::string endpoint, ToEndpoint(address, /*bind=*/false));
  Status status;
  void* socket = NewSocket(context_, ZMQ_DEALER, &status);
  if (socket == nullptr) return status;
  const std::string identity = identity_prefix_ + std::to_string(next_connection_++);
  zmq_setsockopt(socket, ZMQ_ROUTING_ID, identity.data(), identity.size());
  if (options_.curve.has_value()) {
    const CurveKeyPair& keys = *options_.curve;
    zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, keys.public_key.c_str(), keys.public_key.size());
    zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, keys.public_key.c_str(), keys.public_key.size());
    zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, keys.secret_key.c_str(), keys.secret_key.size());
  }
  if (zmq_connect(socket, endpoint.c_str()) != 0) {
    const int err = zmq_errno();
    zmq_close(socket);
    return InvalidArgumentError("cannot connect to " + address + ": " + zmq_strerror(err));
  }
  std::unique_ptr<Connection> connection = std::make_unique<ZmqConnection>(socket, address);
  return connection;
}

}  // namespace iak::net
