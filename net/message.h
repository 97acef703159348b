// Message: what a transport moves. Frame 0 is a serialized proto::Envelope;
// frames 1.. are raw payloads (keys, rows) that are never parsed by Protobuf
// (net/frame.h: a frame may hold a received buffer as it arrived).
#ifndef IAK_NET_MESSAGE_H_
#define IAK_NET_MESSAGE_H_

#include <string>
#include <vector>

#include "net/frame.h"

namespace iak::net {

struct Message {
  std::vector<Frame> frames;
};

// Opaque routing identity of the peer that sent a request; a Listener uses it
// to send the reply back to that peer. Both fields are peer-chosen bytes:
// log them only through net::EscapeForLog.
struct PeerId {
  std::string id;
  // What every connection of the sending transport (process) shares, so a
  // server can tell "the node that registered" from "some other peer"; set
  // by the Listener (see zmq_transport.h). Empty = unknown (bind nothing).
  std::string origin;
};

struct Incoming {
  PeerId from;
  Message message;
};

}  // namespace iak::net

#endif  // IAK_NET_MESSAGE_H_
