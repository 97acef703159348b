// HttpServer: a minimal HTTP/1.0 server for read-only endpoints such as the
// scheduler's Prometheus /metrics. One request per connection; each
// connection is served on its own thread (at most max_connections at once;
// more are closed at once) and has one deadline for the whole exchange
// (request_deadline), so a slow or silent client cannot hold up others or
// the node it serves.
//
// Thread-safety: Start/Stop from one thread; the handler runs on connection
// threads, possibly several at once, and must be thread-safe.
#ifndef IAK_NET_HTTP_SERVER_H_
#define IAK_NET_HTTP_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace iak::net {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; version=0.0.4";
  std::string body;
};

struct HttpServerOptions {
  // The whole exchange (read the request head, write the response) of one
  // connection must end within this; then the connection is closed.
  // Default 2 s.
  int request_deadline_ms = 2000;
  // Connections served at once; one more is closed unanswered. Default 16.
  int max_connections = 16;
  // Largest request head read. Default 8 KiB.
  size_t max_request_bytes = 8192;
};

class HttpServer {
 public:
  // Called with the request path ("/metrics"); returns the response.
  using Handler = std::function<HttpResponse(const std::string& path)>;

  explicit HttpServer(Handler handler, HttpServerOptions options = HttpServerOptions())
      : handler_(std::move(handler)), options_(options) {}
  ~HttpServer();

  // Listens on host:port (port 0 = a free port) and starts serving.
  [[nodiscard]] Status Start(const std::string& host, int port);
  // The port it listens on, after Start.
  int port() const { return port_; }
  // Stops accepting, waits for connection threads (each bounded by its
  // deadline) and closes the socket. Idempotent.
  void Stop();
  // Connections closed unanswered because max_connections were busy.
  uint64_t connections_refused() const { return refused_.load(); }

 private:
  void Serve();
  void HandleConnection(int fd);
  void JoinFinished();  // joins connection threads that are done

  Handler handler_;
  const HttpServerOptions options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
  struct Worker {
    std::thread thread;
    bool done = false;  // guarded by mu_
  };
  std::mutex mu_;
  std::list<Worker> workers_;  // guarded by mu_
  int active_ = 0;             // guarded by mu_
};

}  // namespace iak::net

#endif  // IAK_NET_HTTP_SERVER_H_
