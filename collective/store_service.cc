#include "collective/store_service.h"

#include <utility>

namespace iak::collective {

namespace {

void LogIfFailed(const Status& status, const net::RpcCall& call) {
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
      if (!TryAnswer(parked, server)) {
        if (timeout_ms <= 0) {
          LogIfFailed(server->ReplyError(
                          call, DeadlineExceededError("rendezvous keys " +
                                                      DescribeKeys(store_.Missing(parked.keys)) +
                                                      " are not set and the request allowed "
                                                      "no time to wait")),
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
