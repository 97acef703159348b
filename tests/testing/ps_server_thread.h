// One PS server running on its own thread with its own stop flag, so a test
// can stop a single server (or shard replica) while the others keep serving.
#ifndef IAK_TESTS_TESTING_PS_SERVER_THREAD_H_
#define IAK_TESTS_TESTING_PS_SERVER_THREAD_H_

#include <atomic>
#include <memory>
#include <thread>

#include "common/status.h"
#include "net/transport.h"
#include "proto/wire.pb.h"
#include "ps/ps_server.h"

namespace iak::testing_util {

class PsServerThread {
 public:
  PsServerThread() = default;
  PsServerThread(const PsServerThread&) = delete;
  PsServerThread& operator=(const PsServerThread&) = delete;
  ~PsServerThread() { Stop(); }

  // Starts a server with `options` on `transport` and runs it on the thread
  // until Stop(); the error of Start() when it does not start.
  Status Start(const ps::PsServerOptions& options, net::Transport* transport) {
    server_ = std::make_unique<ps::PsServer>(options, transport);
    Status started = server_->Start();
    if (!started.ok()) return started;
    address_.set_shard(options.shard);
    address_.set_replica(options.replica);
    address_.set_address(server_->address());
    address_.set_name(options.name);
    thread_ = std::thread([this] { ran_ = server_->Run(stop_); });
    return Status::Ok();
  }

  // Stops the server's loop and joins the thread (the server object stays, its
  // listener open); ran() then holds what Run() returned. Idempotent.
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  // Stop(), then destroys the server: its listener closes, the address is gone.
  void Close() {
    Stop();
    server_.reset();
  }

  // What the server's Run() returned; meaningful after Stop().
  const Status& ran() const { return ran_; }

  ps::PsServer* server() const { return server_.get(); }
  // The address a PsClient needs for this server (shard, replica, name).
  const proto::ServerAddress& address() const { return address_; }

 private:
  std::unique_ptr<ps::PsServer> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Status ran_;
  proto::ServerAddress address_;
};

}  // namespace iak::testing_util

#endif  // IAK_TESTS_TESTING_PS_SERVER_THREAD_H_
