#include "net/rpc.h"

#include <climits>
#include <set>
#include <utility>

namespace iak::net {

Message EncodeMessage(const proto::Envelope& header, std::vector<Frame> payload) {
  Message message;
  message.frames.reserve(payload.size() + 1);
  message.frames.push_back(header.SerializeAsString());
  for (Frame& frame : payload) message.frames.push_back(std::move(frame));
  return message;
}

Status DecodeMessage(Message message, const std::string& from, proto::Envelope* header,
                     std::vector<Frame>* payload) {
  if (message.frames.empty()) {
    return DataLossError("empty message from " + from);
  }
  const Frame& first = message.frames[0];
  if (first.size() > static_cast<size_t>(INT_MAX) ||
      !header->ParseFromArray(first.data(), static_cast<int>(first.size()))) {
    return DataLossError("garbled message header (" + std::to_string(message.frames[0].size()) +
                         " bytes) from " + from + "; is the peer an IAK-PS node of this version?");
  }
  payload->clear();
  for (size_t i = 1; i < message.frames.size(); ++i) {
    payload->push_back(std::move(message.frames[i]));
  }
  return Status::Ok();
}

RpcClient::RpcClient(std::unique_ptr<Connection> connection, std::string self_name)
    : connection_(std::move(connection)), self_name_(std::move(self_name)) {
  peer_address_ = connection_->peer_address();
}

StatusOr<uint64_t> RpcClient::Send(proto::Envelope request, std::vector<Frame> payload) {
  const uint64_t id = next_id_++;
  request.set_request_id(id);
  in_flight_.insert(id);
  request.set_sender(self_name_);
  IAK_RETURN_IF_ERROR(connection_->Send(EncodeMessage(request, std::move(payload)))
                          .WithContext("sending to " + peer_address_));
  return id;
}

StatusOr<RpcReply> RpcClient::Await(uint64_t id, Deadline deadline) {
  IAK_ASSIGN_OR_RETURN(std::optional<RpcReply> reply,
                       AwaitUnless(id, deadline, nullptr, Duration(0)));
  return std::move(*reply);  // never abandoned without `abandon`
}

StatusOr<std::optional<RpcReply>> RpcClient::AwaitUnless(uint64_t id, Deadline deadline,
                                                         const std::function<bool()>& abandon,
                                                         Duration poll) {
  // Whatever happens, `id` is no longer awaited after this call.
  struct Forget {
    std::set<uint64_t>* in_flight;
    uint64_t id;
    ~Forget() { in_flight->erase(id); }
  } forget{&in_flight_, id};
  for (size_t i = 0; i < early_.size(); ++i) {
    if (early_[i].header.request_id() == id) {
      RpcReply reply = std::move(early_[i]);
      early_.erase(early_.begin() + static_cast<long>(i));
      if (reply.header.error_code() != 0) {
        return Status(static_cast<StatusCode>(reply.header.error_code()),
                      reply.header.error_message());
      }
      return std::optional<RpcReply>(std::move(reply));
    }
  }
  while (true) {
    const Deadline wait =
        abandon ? Deadline::At(std::min(deadline.when(), Deadline::After(poll).when())) : deadline;
    Message message;
    Status received = connection_->Receive(&message, wait);
    if (received.code() == StatusCode::kDeadlineExceeded) {
      if (deadline.Expired()) {
        return DeadlineExceededError("no reply from " + peer_address_ + " within the deadline");
      }
      if (abandon()) return std::optional<RpcReply>();
      continue;
    }
    IAK_RETURN_IF_ERROR(received.WithContext("receiving from " + peer_address_));
    RpcReply reply;
    Status decoded = DecodeMessage(std::move(message), peer_address_, &reply.header, &reply.payload);
    if (!decoded.ok()) {
      LOG(WARNING) << decoded << " (dropped)";
      continue;
    }
    const uint64_t got = reply.header.request_id();
    if (got == id) {
      if (reply.header.error_code() != 0) {
        return Status(static_cast<StatusCode>(reply.header.error_code()),
                      reply.header.error_message());
      }
      return std::optional<RpcReply>(std::move(reply));
    }
    // A reply to another request still in flight is kept; one to an
    // abandoned (timed-out) request is stale and dropped.
    if (in_flight_.count(got) != 0) early_.push_back(std::move(reply));
  }
}

StatusOr<RpcReply> RpcClient::Call(proto::Envelope request, std::vector<Frame> payload,
                                   Deadline deadline) {
  IAK_ASSIGN_OR_RETURN(uint64_t id, Send(std::move(request), std::move(payload)));
  return Await(id, deadline);
}

RpcServer::RpcServer(std::unique_ptr<Listener> listener, RpcServerOptions options)
    : listener_(std::move(listener)),
      options_(std::move(options)),
      log_limiter_(options_.log_limit) {}

void RpcServer::Run(const std::atomic<bool>& stop, const Handler& handler,
                    const std::function<void()>& on_tick) {
  TimePoint next_tick = std::chrono::steady_clock::now() + options_.tick;
  while (!stop.load()) {
    Incoming incoming;
    Status received = listener_->Receive(&incoming, Deadline::At(next_tick));
    if (received.ok()) {
      RpcCall call;
      call.peer = std::move(incoming.from);
      // The peer id is peer-chosen bytes: escaped before it reaches a log.
      Status decoded = DecodeMessage(std::move(incoming.message),
                                     "peer " + EscapeForLog(call.peer.id, 64), &call.request,
                                     &call.payload);
      if (decoded.ok()) {
        // Handlers log and echo the sender freely; make it one safe field.
        call.request.set_sender(EscapeForLog(call.request.sender(), options_.max_sender_bytes));
        handler(std::move(call));
      } else {
        uint64_t suppressed = 0;
        if (log_limiter_.Allow(&suppressed)) {
          LOG(WARNING) << options_.name << ": " << decoded << " (dropped)"
                       << SuppressedNote(suppressed);
        }
      }
    } else if (received.code() != StatusCode::kDeadlineExceeded) {
      uint64_t suppressed = 0;
      if (log_limiter_.Allow(&suppressed)) {
        LOG(WARNING) << options_.name << ": receive failed: " << received
                     << SuppressedNote(suppressed);
      }
      if (received.code() == StatusCode::kCancelled) return;
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      if (on_tick) on_tick();
      next_tick = std::chrono::steady_clock::now() + options_.tick;
    }
  }
}

Status RpcServer::Reply(const RpcCall& call, proto::Envelope reply,
                        std::vector<Frame> payload) {
  reply.set_request_id(call.request.request_id());
  reply.set_sender(options_.name);
  return listener_->Send(call.peer, EncodeMessage(reply, std::move(payload)));
}

Status RpcServer::ReplyError(const RpcCall& call, const Status& error) {
  proto::Envelope reply;
  reply.set_error_code(static_cast<int>(error.code()));
  reply.set_error_message(options_.name + ": " + error.message());
  return Reply(call, std::move(reply));
}

}  // namespace iak::net
