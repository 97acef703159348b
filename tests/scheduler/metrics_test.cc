// The scheduler's metrics: recording and Prometheus rendering, and the HTTP
// endpoint that serves them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <string>
#include <thread>

#include "net/http_server.h"
#include "scheduler/job_metrics.h"

namespace iak::scheduler {
namespace {

TEST(JobMetricsTest, RendersMembershipPhaseWorkersAndDomains) {
  JobMetrics metrics("demo");
  metrics.NodeRegistered("ps-0", proto::ROLE_SERVER);
  metrics.NodeRegistered("worker-0", proto::ROLE_WORKER);
  metrics.NodeRegistered("worker-1", proto::ROLE_WORKER);
  metrics.PhaseStarted(1, proto::PHASE_MATCHING);
  const TimePoint t0{};
  proto::Heartbeat beat;
  beat.set_step(10);
  beat.set_loss(0.5);
  beat.set_samples(1000);
  metrics.Heartbeat("worker-0", beat, t0);
  beat.set_step(20);
  beat.set_samples(3000);
  beat.set_pull_latency_ms(1.5);
  proto::DomainAuc* auc = beat.add_domain_auc();
  auc->set_domain("2004-2007");
  auc->set_base_auc(0.65);
  auc->set_iak_auc(0.68);
  metrics.Heartbeat("worker-0", beat, t0 + std::chrono::seconds(2));
  metrics.NodeDead("worker-1");

  const std::string text = metrics.RenderPrometheus();
  for (const char* line : {
           "iak_job_state{job=\"demo\",state=\"running\"} 1\n",
           "iak_job_phase{job=\"demo\",phase=\"matching\"} 1\n",
           "iak_nodes{job=\"demo\",role=\"server\",status=\"alive\"} 1\n",
           "iak_nodes{job=\"demo\",role=\"worker\",status=\"alive\"} 1\n",
           "iak_nodes{job=\"demo\",role=\"worker\",status=\"dead\"} 1\n",
           "iak_worker_step{job=\"demo\",worker=\"worker-0\"} 20\n",
           "iak_worker_samples_total{job=\"demo\",worker=\"worker-0\"} 3000\n",
           // 2000 samples in 2 s.
           "iak_worker_samples_per_second{job=\"demo\",worker=\"worker-0\"} 1000\n",
           "iak_worker_pull_latency_ms{job=\"demo\",worker=\"worker-0\"} 1.5\n",
           "iak_domain_auc{job=\"demo\",domain=\"2004-2007\",model=\"tuned\"} 0.68\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  // Every sample line belongs to a declared metric.
  EXPECT_NE(text.find("# TYPE iak_worker_samples_total counter"), std::string::npos);
  metrics.JobEnded("finished");
  EXPECT_NE(metrics.RenderPrometheus().find("state=\"finished\"} 1"), std::string::npos);
}

proto::DomainAuc Record(const std::string& domain, int64_t step, double auc) {
  proto::DomainAuc d;
  d.set_domain(domain);
  d.set_base_auc(0.60);
  d.set_base_logloss(0.52);
  d.set_iak_auc(auc);
  d.set_logloss(0.47);
  d.set_best_auc(std::max(0.60, auc));
  d.set_best_step(auc > 0.60 ? step : 0);
  d.set_step(step);
  return d;
}

TEST(JobMetricsTest, RendersEachDomainsValidationFigures) {
  JobMetrics metrics("demo \"v2\"");
  metrics.NodeRegistered("worker-0", proto::ROLE_WORKER);
  proto::Heartbeat beat;
  *beat.add_domain_auc() = Record("2004-2007", 100, 0.66);
  proto::DomainAuc stopped = Record("2008-2011", 100, 0.58);
  stopped.set_stopped(true);
  *beat.add_domain_auc() = stopped;
  // A one-class split has no AUC; a name with a quote, a backslash and a
  // line feed must not break the exposition.
  proto::DomainAuc odd = Record("odd\"\\\nname", 50, std::nan(""));
  *beat.add_domain_auc() = odd;
  metrics.Heartbeat("worker-0", beat, TimePoint{});

  const std::string text = metrics.RenderPrometheus();
  const std::string job = "job=\"demo \\\"v2\\\"\"";
  for (const std::string& line : {
           "iak_domain_auc{" + job + ",domain=\"2004-2007\",model=\"base\"} 0.6\n",
           "iak_domain_auc{" + job + ",domain=\"2004-2007\",model=\"tuned\"} 0.66\n",
           "iak_domain_auc{" + job + ",domain=\"2004-2007\",model=\"best\"} 0.66\n",
           "iak_domain_logloss{" + job + ",domain=\"2004-2007\",model=\"base\"} 0.52\n",
           "iak_domain_logloss{" + job + ",domain=\"2004-2007\",model=\"tuned\"} 0.47\n",
           "iak_domain_stopped{" + job + ",domain=\"2004-2007\"} 0\n",
           "iak_domain_validation_step{" + job + ",domain=\"2004-2007\"} 100\n",
           "iak_domain_best_step{" + job + ",domain=\"2004-2007\"} 100\n",
           "iak_domain_auc{" + job + ",domain=\"2008-2011\",model=\"best\"} 0.6\n",
           "iak_domain_stopped{" + job + ",domain=\"2008-2011\"} 1\n",
           "iak_domain_best_step{" + job + ",domain=\"2008-2011\"} 0\n",
           "iak_domain_auc{" + job + ",domain=\"odd\\\"\\\\\\nname\",model=\"tuned\"} NaN\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  for (const char* family : {"iak_domain_auc", "iak_domain_logloss", "iak_domain_stopped",
                             "iak_domain_validation_step", "iak_domain_best_step"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " gauge\n"), std::string::npos)
        << family;
  }
  // Every line is a comment or one sample: no raw line feed split a label.
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.rfind("iak_", 0) == 0) << line;
  }

  // A lagging sender (an elastic member behind the others) does not replace
  // a later evaluation; a later one does.
  proto::Heartbeat lagging;
  *lagging.add_domain_auc() = Record("2004-2007", 50, 0.62);
  metrics.Heartbeat("worker-0", lagging, TimePoint{} + std::chrono::seconds(1));
  EXPECT_NE(metrics.RenderPrometheus().find(
                "iak_domain_validation_step{" + job + ",domain=\"2004-2007\"} 100\n"),
            std::string::npos);
  proto::Heartbeat later;
  *later.add_domain_auc() = Record("2004-2007", 150, 0.67);
  metrics.Heartbeat("worker-0", later, TimePoint{} + std::chrono::seconds(2));
  EXPECT_NE(metrics.RenderPrometheus().find(
                "iak_domain_auc{" + job + ",domain=\"2004-2007\",model=\"tuned\"} 0.67\n"),
            std::string::npos);
}

// What heartbeats can make the metrics hold is bounded: domains beyond the
// cap, or with absurd names, are dropped and counted, and known domains still
// update.
TEST(JobMetricsTest, DomainRecordsBeyondTheCapAreDroppedAndCounted) {
  JobMetrics metrics("demo");
  metrics.NodeRegistered("worker-0", proto::ROLE_WORKER);
  proto::Heartbeat flood;
  for (size_t i = 0; i < kMaxMetricDomains + 5; ++i) {
    *flood.add_domain_auc() = Record("d" + std::to_string(i), 10, 0.6);
  }
  *flood.add_domain_auc() = Record(std::string(kMaxMetricDomainName + 1, 'x'), 10, 0.6);
  metrics.Heartbeat("worker-0", flood, TimePoint{});
  proto::Heartbeat update;
  *update.add_domain_auc() = Record("d0", 20, 0.7);
  metrics.Heartbeat("worker-0", update, TimePoint{} + std::chrono::seconds(1));

  const std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("iak_domain_records_dropped{job=\"demo\"} 6\n"), std::string::npos);
  EXPECT_NE(text.find("iak_domain_validation_step{job=\"demo\",domain=\"d9999\"} 10\n"),
            std::string::npos);
  EXPECT_EQ(text.find("domain=\"d10000\""), std::string::npos);
  EXPECT_EQ(text.find(std::string(kMaxMetricDomainName + 1, 'x')), std::string::npos);
  EXPECT_NE(text.find("iak_domain_validation_step{job=\"demo\",domain=\"d0\"} 20\n"),
            std::string::npos);
}

size_t CountLines(const std::string& text, const std::string& prefix) {
  size_t count = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) ++count;
  }
  return count;
}

// Nodes that come and go under new names (restarts, or a peer registering
// and deregistering in a loop) leave at most kMaxMetricEndedNodes entries:
// the ones that ended last. A forgotten node's late records are ignored; a
// name registered again is alive and no longer counts among the ended.
TEST(JobMetricsTest, OnlyTheNodesThatEndedLastAreKept) {
  JobMetrics metrics("demo");
  metrics.NodeRegistered("worker-live", proto::ROLE_WORKER);
  proto::Heartbeat beat;
  beat.set_step(3);
  metrics.Heartbeat("worker-live", beat, TimePoint{});
  const size_t cycles = kMaxMetricEndedNodes + 100;
  for (size_t i = 0; i < cycles; ++i) {
    const std::string name = "worker-" + std::to_string(i);
    metrics.NodeRegistered(name, proto::ROLE_WORKER);
    metrics.Heartbeat(name, beat, TimePoint{});
    if (i % 2 == 0) {
      metrics.NodeLeft(name);
    } else {
      metrics.NodeDead(name);
      metrics.NodeLeft(name);  // as the scheduler drops a silent elastic worker
    }
  }
  std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(CountLines(text, "iak_worker_step{"), kMaxMetricEndedNodes + 1);
  EXPECT_NE(text.find("iak_nodes{job=\"demo\",role=\"worker\",status=\"left\"} " +
                      std::to_string(kMaxMetricEndedNodes) + "\n"),
            std::string::npos);
  EXPECT_NE(text.find("iak_nodes{job=\"demo\",role=\"worker\",status=\"alive\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(text.find("worker=\"worker-99\""), std::string::npos);  // the oldest are gone
  EXPECT_NE(text.find("worker=\"worker-100\""), std::string::npos);
  EXPECT_NE(text.find("worker=\"worker-" + std::to_string(cycles - 1) + "\""),
            std::string::npos);

  metrics.Heartbeat("worker-0", beat, TimePoint{});  // late, from a forgotten node
  metrics.NodeDead("worker-1");
  metrics.NodeRegistered("worker-100", proto::ROLE_WORKER);  // restarted under its name
  text = metrics.RenderPrometheus();
  EXPECT_EQ(text.find("worker=\"worker-0\""), std::string::npos);
  EXPECT_EQ(text.find("worker=\"worker-1\""), std::string::npos);
  EXPECT_NE(text.find("iak_nodes{job=\"demo\",role=\"worker\",status=\"alive\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("iak_nodes{job=\"demo\",role=\"worker\",status=\"left\"} " +
                      std::to_string(kMaxMetricEndedNodes - 1) + "\n"),
            std::string::npos);
  EXPECT_EQ(CountLines(text, "iak_worker_step{"), kMaxMetricEndedNodes + 1);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  ::send(fd, request.data(), request.size(), 0);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return response;
}

TEST(HttpServerTest, ServesMetricsAndRefusesOtherPaths) {
  JobMetrics metrics("demo");
  metrics.NodeRegistered("worker-0", proto::ROLE_WORKER);
  net::HttpServer server([&metrics](const std::string& path) {
    if (path != "/metrics") return net::HttpResponse{404, "text/plain", "try /metrics\n"};
    return net::HttpResponse{200, "text/plain; version=0.0.4", metrics.RenderPrometheus()};
  });
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  ASSERT_GT(server.port(), 0);
  const std::string ok = HttpGet(server.port(), "/metrics");
  EXPECT_EQ(ok.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("iak_nodes{job=\"demo\",role=\"worker\",status=\"alive\"} 1"),
            std::string::npos) << ok;
  const std::string missing = HttpGet(server.port(), "/other");
  EXPECT_EQ(missing.rfind("HTTP/1.0 404", 0), 0u) << missing;
  server.Stop();
}

TEST(HttpServerTest, BadHostIsAClearError) {
  net::HttpServer server([](const std::string&) { return net::HttpResponse{}; });
  Status s = server.Start("not-an-ip", 0);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not-an-ip"), std::string::npos);
}

// A connected TCP socket to 127.0.0.1:port whose reads give up after 10 s
// (only a hang hits that); -1 when the connect fails.
int ConnectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

net::HttpResponse Ok(const std::string&) { return net::HttpResponse{200, "text/plain", "ok\n"}; }

// A client that never finishes its request holds only its own connection:
// another client is answered meanwhile (the old server served one connection
// at a time, so the second waited for the first).
TEST(HttpServerTest, SlowClientDoesNotBlockOthers) {
  net::HttpServerOptions options;
  options.request_deadline_ms = 60000;  // the slow client keeps its slot
  net::HttpServer server(Ok, options);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const int slow = ConnectTo(server.port());
  ASSERT_GE(slow, 0);
  ASSERT_EQ(::send(slow, "G", 1, 0), 1);
  const std::string answered = HttpGet(server.port(), "/metrics");
  EXPECT_EQ(answered.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << answered;
  // The slow connection is still open, unanswered.
  char byte;
  EXPECT_EQ(::recv(slow, &byte, 1, MSG_DONTWAIT), -1);
  ::close(slow);  // its thread ends at once (EOF), so Stop does not wait
  server.Stop();
}

// The deadline covers the whole request: trickling a byte at a time (the
// attacker's pace, not a synchronisation) does not renew it.
TEST(HttpServerTest, TricklingClientIsCutOffAtTheRequestDeadline) {
  net::HttpServerOptions options;
  options.request_deadline_ms = 300;
  net::HttpServer server(Ok, options);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const int fd = ConnectTo(server.port());
  ASSERT_GE(fd, 0);
  int sent = 0;
  bool closed = false;
  for (; sent < 100 && !closed; ++sent) {
    if (::send(fd, "G", 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
    closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, 40) << "a 300 ms deadline let a client trickle for " << sent * 50 << " ms";
  server.Stop();
}

TEST(HttpServerTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  net::HttpServerOptions options;
  options.max_connections = 1;
  options.request_deadline_ms = 60000;
  net::HttpServer server(Ok, options);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const int holder = ConnectTo(server.port());
  ASSERT_GE(holder, 0);
  ASSERT_EQ(::send(holder, "G", 1, 0), 1);
  // Bounded: each attempt either gets refused (EOF) or, while the server has
  // not yet accepted the holder, is answered; the holder is accepted first.
  std::string refused = "unset";
  for (int i = 0; i < 1000 && server.connections_refused() == 0; ++i) {
    refused = HttpGet(server.port(), "/metrics");
  }
  EXPECT_EQ(server.connections_refused(), 1u);
  EXPECT_EQ(refused, "");
  ::close(holder);
  server.Stop();
}

}  // namespace
}  // namespace iak::scheduler
