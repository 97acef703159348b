#include "collective/rendezvous_store.h"

#include <algorithm>
#include <utility>

namespace iak::collective {

namespace {

// The service answers a parked request at 9/10 of the caller's remaining
// time, so its DeadlineExceeded (naming the missing keys) reaches the caller
// before the caller's own deadline ends the wait with a vaguer one.
int64_t ServiceTimeoutMs(Deadline deadline) { return deadline.RemainingMs() * 9 / 10; }

}  // namespace

Status InMemoryStore::Set(const std::string& key, const std::string& value, Deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    values_[key] = value;
  }
  cv_.notify_all();
  return Status::Ok();
}

StatusOr<std::string> InMemoryStore::Get(const std::string& key, Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline.when(), [&] { return values_.count(key) > 0; })) {
    return DeadlineExceededError("rendezvous key '" + key +
                                 "' was not set before the deadline; a rank did not arrive");
  }
  return values_.at(key);
}

Status InMemoryStore::Wait(const std::vector<std::string>& keys, Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto all_set = [&] {
    return std::all_of(keys.begin(), keys.end(),
                       [&](const std::string& k) { return values_.count(k) > 0; });
  };
  if (!cv_.wait_until(lock, deadline.when(), all_set)) {
    std::vector<std::string> missing;
    for (const std::string& k : keys) {
      if (values_.count(k) == 0) missing.push_back(k);
    }
    return DeadlineExceededError("rendezvous keys " + DescribeKeys(missing) +
                                 " were not set before the deadline; those ranks did not arrive");
  }
  return Status::Ok();
}

bool InMemoryStore::TryGet(const std::string& key, std::string* value) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return false;
  *value = it->second;
  return true;
}

std::vector<std::string> InMemoryStore::Missing(const std::vector<std::string>& keys) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> missing;
  for (const std::string& k : keys) {
    if (values_.count(k) == 0) missing.push_back(k);
  }
  return missing;
}

size_t InMemoryStore::ErasePrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t erased = 0;
  for (auto it = values_.lower_bound(prefix);
       it != values_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = values_.erase(it);
    ++erased;
  }
  return erased;
}

StatusOr<std::unique_ptr<RpcStore>> RpcStore::Connect(net::Transport* transport,
                                                      const std::string& address,
                                                      RpcStoreOptions options) {
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<net::Connection> connection, transport->Connect(address));
  return std::unique_ptr<RpcStore>(new RpcStore(
      std::make_unique<net::RpcClient>(std::move(connection), std::move(options.self_name))));
}

StatusOr<net::RpcReply> RpcStore::Call(proto::Envelope request, Deadline deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<net::RpcReply> reply = client_->Call(std::move(request), {}, deadline);
  if (!reply.ok()) {
    return reply.status().WithContext("rendezvous store at " + client_->peer_address());
  }
  return reply;
}

Status RpcStore::Set(const std::string& key, const std::string& value, Deadline deadline) {
  proto::Envelope request;
  request.mutable_store_set()->set_key(key);
  request.mutable_store_set()->set_value(value);
  return Call(std::move(request), deadline).status();
}

StatusOr<std::string> RpcStore::Get(const std::string& key, Deadline deadline) {
  proto::Envelope request;
  request.mutable_store_get()->set_key(key);
  request.mutable_store_get()->set_timeout_ms(ServiceTimeoutMs(deadline));
  IAK_ASSIGN_OR_RETURN(net::RpcReply reply, Call(std::move(request), deadline));
  if (reply.header.body_case() != proto::Envelope::kStoreReply) {
    return DataLossError("rendezvous store at " + client_->peer_address() +
                         " answered a get with message type " +
                         std::to_string(reply.header.body_case()) + "; is it an IAK-PS node?");
  }
  return reply.header.store_reply().value();
}

Status RpcStore::Wait(const std::vector<std::string>& keys, Deadline deadline) {
  proto::Envelope request;
  for (const std::string& key : keys) request.mutable_store_wait()->add_keys(key);
  request.mutable_store_wait()->set_timeout_ms(ServiceTimeoutMs(deadline));
  return Call(std::move(request), deadline).status();
}

std::string DescribeKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    if (!out.empty()) out += ", ";
    out += "'" + key + "'";
  }
  return out;
}

}  // namespace iak::collective
