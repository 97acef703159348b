// HttpServer: a minimal HTTP/1.0 server for read-only endpoints such as the
// scheduler's Prometheus /metrics. One thread, one request per connection,
// every socket wait bounded, so it can never hold up the node it serves.
//
// Thread-safety: Start/Stop from one thread; the handler runs on the server's
// own thread and must be thread-safe with respect to what it reads.
#ifndef IAK_NET_HTTP_SERVER_H_
#define IAK_NET_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/status.h"

namespace iak::net {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; version=0.0.4";
  std::string body;
};

class HttpServer {
 public:
  // Called with the request path ("/metrics"); returns the response.
  using Handler = std::function<HttpResponse(const std::string& path)>;

  explicit HttpServer(Handler handler) : handler_(std::move(handler)) {}
  ~HttpServer();

  // Listens on host:port (port 0 = a free port) and starts serving.
  [[nodiscard]] Status Start(const std::string& host, int port);
  // The port it listens on, after Start.
  int port() const { return port_; }
  void Stop();

 private:
  void Serve();
  void HandleConnection(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace iak::net

#endif  // IAK_NET_HTTP_SERVER_H_
