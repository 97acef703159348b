#include "collective/store_service.h"

#include <utility>

namespace iak::collective {

namespace {

void LogIfFailed(const Status& status, const net::RpcCall& call) {
  // The sender is escaped by the RPC server already.
  if (!status.ok()) {
    LOG(WARNING) << "store service: could not reply to " << call.request.sender() << ": "
                 << status;
  }
}

}  // namespace

bool StoreService::Handle(const net::RpcCall& call, net::RpcServer* server) {
  const proto::Envelope& request = call.request;
  switch (request.body_case()) {
    case proto::Envelope::kStoreSet: {
      const proto::StoreSet& set = request.store_set();
      if (set.key().empty()) {
        LogIfFailed(server->ReplyError(call, InvalidArgumentError(
                                                 "store set from " + request.sender() +
                                                 " has an empty key")),
                    call);
        return true;
      }
      Status allowed = CheckSet(call);
      if (!allowed.ok()) {
        uint64_t suppressed = 0;
        if (server->log_limiter()->Allow(&suppressed)) {
          LOG(WARNING) << "store service: refused a set of '" << net::EscapeForLog(set.key())
                       << "' from '" << request.sender() << "': " << allowed.message()
                       << net::SuppressedNote(suppressed);
        }
        LogIfFailed(server->ReplyError(call, allowed), call);
        return true;
      }
      {
        const size_t bytes = set.key().size() + set.value().size();
        auto old = written_.find(set.key());
        if (old != written_.end()) {
          bytes_by_writer_[old->second.writer] -= old->second.bytes;
          total_bytes_ -= old->second.bytes;
        }
        written_[set.key()] = Written{call.peer.origin, bytes};
        bytes_by_writer_[call.peer.origin] += bytes;
        total_bytes_ += bytes;
      }
      store_.Set(set.key(), set.value(), Deadline::After(Duration(0))).IgnoreError();
      proto::Envelope reply;
      reply.mutable_ack();
      LogIfFailed(server->Reply(call, std::move(reply)), call);
      AnswerReady(server);
      return true;
    }
    case proto::Envelope::kStoreGet:
    case proto::Envelope::kStoreWait: {
      Parked parked;
      parked.call = call;
      int64_t timeout_ms = 0;
      if (request.has_store_get()) {
        parked.keys.push_back(request.store_get().key());
        timeout_ms = request.store_get().timeout_ms();
      } else {
        parked.keys.assign(request.store_wait().keys().begin(), request.store_wait().keys().end());
        timeout_ms = request.store_wait().timeout_ms();
      }
      parked.expires = clock_->Now() + Duration(timeout_ms > 0 ? timeout_ms : 0);
      if (parked.keys.size() > options_.max_keys) {
        LogIfFailed(server->ReplyError(call, InvalidArgumentError(
                                                 "store wait for " +
                                                 std::to_string(parked.keys.size()) +
                                                 " keys; the store holds at most " +
                                                 std::to_string(options_.max_keys))),
                    call);
        return true;
      }
      if (!TryAnswer(parked, server)) {
        if (timeout_ms <= 0) {
          LogIfFailed(server->ReplyError(
                          call, DeadlineExceededError("rendezvous keys " +
                                                      DescribeKeys(store_.Missing(parked.keys)) +
                                                      " are not set and the request allowed "
                                                      "no time to wait")),
                      call);
        } else if (parked_.size() >= options_.max_parked) {
          LogIfFailed(server->ReplyError(
                          call, UnavailableError("the rendezvous store has " +
                                                 std::to_string(parked_.size()) +
                                                 " requests waiting already (max_parked); "
                                                 "retry later")),
                      call);
        } else {
          parked_.push_back(std::move(parked));
          parked_count_ = parked_.size();
        }
      }
      return true;
    }
    default:
      return false;
  }
}

Status StoreService::CheckSet(const net::RpcCall& call) const {
  const proto::StoreSet& set = call.request.store_set();
  if (options_.authorize_write) IAK_RETURN_IF_ERROR(options_.authorize_write(call));
  if (set.key().size() > options_.max_key_bytes) {
    return InvalidArgumentError("store key of " + std::to_string(set.key().size()) +
                                " bytes; at most " + std::to_string(options_.max_key_bytes) +
                                " (max_key_bytes); nothing was stored");
  }
  if (set.value().size() > options_.max_value_bytes) {
    return InvalidArgumentError("store value of " + std::to_string(set.value().size()) +
                                " bytes for '" + net::EscapeForLog(set.key()) + "'; at most " +
                                std::to_string(options_.max_value_bytes) +
                                " (max_value_bytes); nothing was stored");
  }
  const size_t bytes = set.key().size() + set.value().size();
  size_t replaced = 0;
  auto old = written_.find(set.key());
  if (old != written_.end()) replaced = old->second.bytes;
  if (old == written_.end() && written_.size() >= options_.max_keys) {
    return UnavailableError("the rendezvous store holds " + std::to_string(written_.size()) +
                            " keys, its limit (max_keys); nothing was stored");
  }
  if (total_bytes_ - replaced + bytes > options_.max_total_bytes) {
    return UnavailableError("the rendezvous store holds " + std::to_string(total_bytes_) +
                            " bytes; this set would pass its limit of " +
                            std::to_string(options_.max_total_bytes) +
                            " (max_total_bytes); nothing was stored");
  }
  auto mine = bytes_by_writer_.find(call.peer.origin);
  const size_t own = mine == bytes_by_writer_.end() ? 0 : mine->second;
  const size_t own_replaced =
      old != written_.end() && old->second.writer == call.peer.origin ? replaced : 0;
  if (own - own_replaced + bytes > options_.max_bytes_per_writer) {
    return UnavailableError("'" + call.request.sender() + "' has " + std::to_string(own) +
                            " bytes in the rendezvous store; this set would pass its quota of " +
                            std::to_string(options_.max_bytes_per_writer) +
                            " (max_bytes_per_writer); nothing was stored");
  }
  return Status::Ok();
}

size_t StoreService::ErasePrefix(const std::string& prefix) {
  for (auto it = written_.lower_bound(prefix);
       it != written_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    bytes_by_writer_[it->second.writer] -= it->second.bytes;
    total_bytes_ -= it->second.bytes;
    it = written_.erase(it);
  }
  return store_.ErasePrefix(prefix);
}

bool StoreService::TryAnswer(const Parked& parked, net::RpcServer* server) {
  if (!store_.Missing(parked.keys).empty()) return false;
  Answer(parked, server);
  return true;
}

void StoreService::Answer(const Parked& parked, net::RpcServer* server) {
  proto::Envelope reply;
  if (parked.call.request.has_store_get()) {
    std::string value;
    store_.TryGet(parked.keys[0], &value);
    reply.mutable_store_reply()->set_value(std::move(value));
  } else {
    reply.mutable_store_reply();
  }
  LogIfFailed(server->Reply(parked.call, std::move(reply)), parked.call);
}

std::vector<StoreService::Parked> StoreService::Unpark(
    const std::function<bool(const Parked&)>& done) {
  std::vector<Parked> out;
  std::vector<Parked> still;
  for (Parked& parked : parked_) (done(parked) ? out : still).push_back(std::move(parked));
  parked_ = std::move(still);
  parked_count_ = parked_.size();
  return out;
}

void StoreService::AnswerReady(net::RpcServer* server) {
  for (const Parked& parked : Unpark([this](const Parked& p) {
         return store_.Missing(p.keys).empty();
       })) {
    Answer(parked, server);
  }
}

void StoreService::Tick(net::RpcServer* server) {
  const TimePoint now = clock_->Now();
  for (const Parked& parked : Unpark([this, now](const Parked& p) {
         return store_.Missing(p.keys).empty() || now >= p.expires;
       })) {
    const std::vector<std::string> missing = store_.Missing(parked.keys);
    if (missing.empty()) {
      Answer(parked, server);
      continue;
    }
    LogIfFailed(server->ReplyError(parked.call,
                                   DeadlineExceededError("rendezvous keys " +
                                                         DescribeKeys(missing) +
                                                         " were not set before the deadline; "
                                                         "those ranks did not arrive")),
                parked.call);
  }
}

Status StoreService::Serve(std::unique_ptr<net::Listener> listener,
                           const std::atomic<bool>& stop) {
  net::RpcServerOptions options;
  options.name = "rendezvous-store";
  options.tick = Duration(10);
  net::RpcServer server(std::move(listener), options);
  server.Run(
      stop,
      [&](net::RpcCall call) {
        if (!Handle(call, &server)) {
          LogIfFailed(server.ReplyError(call, InvalidArgumentError(
                                                  "the rendezvous store serves only store "
                                                  "requests; got type " +
                                                  std::to_string(call.request.body_case()) +
                                                  " from " + call.request.sender())),
                      call);
        }
      },
      [&] { Tick(&server); });
  for (const Parked& parked : parked_) {
    LogIfFailed(server.ReplyError(parked.call, UnavailableError("the rendezvous store is exiting")),
                parked.call);
  }
  parked_.clear();
  parked_count_ = 0;
  return Status::Ok();
}

}  // namespace iak::collective
