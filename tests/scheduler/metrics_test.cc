// The scheduler's metrics: recording and Prometheus rendering, and the HTTP
// endpoint that serves them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

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
           "iak_domain_auc{job=\"demo\",domain=\"2004-2007\",model=\"iak\"} 0.68\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  // Every sample line belongs to a declared metric.
  EXPECT_NE(text.find("# TYPE iak_worker_samples_total counter"), std::string::npos);
  metrics.JobEnded("finished");
  EXPECT_NE(metrics.RenderPrometheus().find("state=\"finished\"} 1"), std::string::npos);
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

}  // namespace
}  // namespace iak::scheduler
