// InProcTransport: a Transport whose nodes are threads of one process.
//
// The transport object is the "network": every Listener and Connection made
// from the same InProcTransport can reach each other, and nothing else can, so
// several clusters can run side by side in one test process. Addresses are
// any string (by convention "inproc://ps-0"). Delivery is in order, lossless
// and immediate; a Connection to an address nobody listens on yet queues its
// messages until a Listener appears.
//
// Thread-safety: all classes here are thread-safe.
#ifndef IAK_NET_INPROC_TRANSPORT_H_
#define IAK_NET_INPROC_TRANSPORT_H_

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/transport.h"

namespace iak::net {

// A queue of incoming messages with a blocking, deadline-bounded pop.
class Mailbox {
 public:
  void Push(Incoming incoming);
  // DeadlineExceeded when nothing arrives before `deadline`.
  Status Pop(Incoming* incoming, Deadline deadline);
  void Close();  // wakes waiters; later pushes are dropped
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Incoming> queue_;  // guarded by mu_
  bool closed_ = false;         // guarded by mu_
};

class InProcTransport : public Transport {
 public:
  StatusOr<std::unique_ptr<Listener>> Listen(const std::string& address) override;
  StatusOr<std::unique_ptr<Connection>> Connect(const std::string& address) override;

  // Used by the listener and connection classes.
  std::shared_ptr<Mailbox> ListenerMailbox(const std::string& address);
  std::shared_ptr<Mailbox> ConnectionMailbox(const std::string& peer_id);
  void ReleaseListener(const std::string& address);
  void ReleaseConnection(const std::string& peer_id);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Mailbox>> listeners_;    // guarded by mu_
  std::map<std::string, bool> listening_;                        // guarded by mu_
  std::map<std::string, std::shared_ptr<Mailbox>> connections_;  // guarded by mu_
  uint64_t next_connection_ = 0;                                  // guarded by mu_
};

}  // namespace iak::net

#endif  // IAK_NET_INPROC_TRANSPORT_H_
