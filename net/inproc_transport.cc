#include "net/inproc_transport.h"

#include <utility>

namespace iak::net {

void Mailbox::Push(Incoming incoming) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    queue_.push_back(std::move(incoming));
  }
  cv_.notify_one();
}

Status Mailbox::Pop(Incoming* incoming, Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline.when(), [&] { return !queue_.empty() || closed_; })) {
    return DeadlineExceededError("no message before the deadline");
  }
  if (queue_.empty()) return CancelledError("mailbox closed");
  *incoming = std::move(queue_.front());
  queue_.pop_front();
  return Status::Ok();
}

void Mailbox::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool Mailbox::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

namespace {

class InProcListener : public Listener {
 public:
  InProcListener(InProcTransport* transport, std::string address,
                 std::shared_ptr<Mailbox> inbox)
      : transport_(transport), address_(std::move(address)), inbox_(std::move(inbox)) {}
  ~InProcListener() override { transport_->ReleaseListener(address_); }

  Status Receive(Incoming* incoming, Deadline deadline) override {
    return inbox_->Pop(incoming, deadline);
  }

  Status Send(const PeerId& to, Message message) override {
    std::shared_ptr<Mailbox> box = transport_->ConnectionMailbox(to.id);
    if (box == nullptr) return UnavailableError("peer " + to.id + " is gone");
    box->Push(Incoming{PeerId{address_, /*origin=*/""}, std::move(message)});
    return Status::Ok();
  }

  std::string address() const override { return address_; }

 private:
  InProcTransport* transport_;
  std::string address_;
  std::shared_ptr<Mailbox> inbox_;
};

class InProcConnection : public Connection {
 public:
  InProcConnection(InProcTransport* transport, std::string peer_address, std::string id,
                   std::shared_ptr<Mailbox> outbox, std::shared_ptr<Mailbox> inbox)
      : transport_(transport),
        peer_address_(std::move(peer_address)),
        id_(std::move(id)),
        outbox_(std::move(outbox)),
        inbox_(std::move(inbox)) {}
  ~InProcConnection() override { transport_->ReleaseConnection(id_); }

  Status Send(Message message) override {
    if (outbox_->closed()) return UnavailableError(peer_address_ + " has stopped listening");
    outbox_->Push(Incoming{PeerId{id_, /*origin=*/""}, std::move(message)});
    return Status::Ok();
  }

  Status Receive(Message* message, Deadline deadline) override {
    Incoming incoming;
    IAK_RETURN_IF_ERROR(inbox_->Pop(&incoming, deadline));
    *message = std::move(incoming.message);
    return Status::Ok();
  }

  std::string peer_address() const override { return peer_address_; }

 private:
  InProcTransport* transport_;
  std::string peer_address_;
  std::string id_;
  std::shared_ptr<Mailbox> outbox_;
  std::shared_ptr<Mailbox> inbox_;
};

}  // namespace

std::shared_ptr<Mailbox> InProcTransport::ListenerMailbox(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Mailbox>& box = listeners_[address];
  if (box == nullptr || box->closed()) box = std::make_shared<Mailbox>();
  return box;
}

StatusOr<std::unique_ptr<Listener>> InProcTransport::Listen(const std::string& address) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (listening_[address]) {
      return Status(StatusCode::kAlreadyExists, address + " is already listened on");
    }
    listening_[address] = true;
    std::shared_ptr<Mailbox>& box = listeners_[address];
    if (box == nullptr || box->closed()) box = std::make_shared<Mailbox>();
  }
  std::unique_ptr<Listener> listener =
      std::make_unique<InProcListener>(this, address, ListenerMailbox(address));
  return listener;
}

StatusOr<std::unique_ptr<Connection>> InProcTransport::Connect(const std::string& address) {
  std::string id;
  auto inbox = std::make_shared<Mailbox>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = "conn-" + std::to_string(next_connection_++) + "->" + address;
    connections_[id] = inbox;
  }
  std::unique_ptr<Connection> connection = std::make_unique<InProcConnection>(
      this, address, id, ListenerMailbox(address), inbox);
  return connection;
}

std::shared_ptr<Mailbox> InProcTransport::ConnectionMailbox(const std::string& peer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(peer_id);
  return it == connections_.end() ? nullptr : it->second;
}

void InProcTransport::ReleaseListener(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  listening_[address] = false;
  auto it = listeners_.find(address);
  if (it != listeners_.end()) {
    it->second->Close();
    listeners_.erase(it);
  }
}

void InProcTransport::ReleaseConnection(const std::string& peer_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(peer_id);
  if (it != connections_.end()) {
    it->second->Close();
    connections_.erase(it);
  }
}

}  // namespace iak::net
