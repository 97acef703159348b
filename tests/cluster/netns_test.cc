// Multi-host on one machine: a scheduler and a parameter server (the real
// `iak` binary) run in one network namespace, a client in another, joined by
// a veth pair. The client reaches both across the link; then the link is cut
// and every call must fail with a clear error (naming the peer) within its
// deadline - never hang; once the link is restored the client recovers.
//
// Skips, saying why, where network namespaces cannot be created.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster/child_process.h"
#include "net/rpc.h"
#include "net/zmq_transport.h"
#include "ps/ps_client.h"
#include "tests/cluster/netns.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::testing {
namespace {

using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 8;
// Ports are free for sure: each namespace has its own, untouched port space.
constexpr int kSchedulerPort = 7101;
constexpr int kPsPort = 7102;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(NetnsTest, CutLinkGivesAClearErrorWithinTheDeadlineThenRecovers) {
  if (std::system("ip -V >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "iproute2 (`ip`) is not installed; tools/install_deps.sh installs it";
  }
  StatusOr<std::unique_ptr<VethNamespaces>> made = VethNamespaces::Create();
  if (!made.ok()) GTEST_SKIP() << made.status().message();
  VethNamespaces& hosts = **made;

  TempDir tmp;
  const Table table = RandomTable(/*seed=*/61, /*num_keys=*/200, kDim);
  const std::string model_dir = tmp.Sub("model");
  ASSERT_TRUE(embedding::WriteModelDirectory(model_dir, ContentsOf(table, kDim, 1)).ok());
  const std::string job = tmp.Sub("job.pbtxt");
  {
    std::ofstream out(job);
    out << "name: \"netns\"\nmodel_dir: \"" << model_dir << "\"\noutput_dir: \"" << tmp.Sub("out")
        << "\"\nphases { phase: PHASE_COMPRESSION steps: 1 beta: 0.001 learning_rate: 0.001 }\n"
        << "batch_size: 16\nnum_servers: 1\nnum_workers: 1\n"
        // No worker ever comes: the job must outlive the test, not time out.
        << "timeouts { heartbeat_interval_ms: 200 heartbeat_timeout_ms: 60000 "
           "startup_timeout_ms: 120000 }\n";
  }
  const std::string scheduler_address =
      "tcp://" + hosts.address(0) + ":" + std::to_string(kSchedulerPort);
  const std::string ps_address = "tcp://" + hosts.address(0) + ":" + std::to_string(kPsPort);

  // Both servers on host 0. Declared after `hosts`, so they stop before the
  // namespaces are deleted.
  StatusOr<std::unique_ptr<cluster::ChildProcess>> scheduler = cluster::ChildProcess::Start(
      "scheduler",
      hosts.Exec(0, {IAK_BINARY, "scheduler", "--job=" + job, "--listen=" + scheduler_address}),
      tmp.Sub("scheduler.log"));
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  StatusOr<std::unique_ptr<cluster::ChildProcess>> server = cluster::ChildProcess::Start(
      "ps-0",
      hosts.Exec(0, {IAK_BINARY, "ps", "--model_dir=" + model_dir, "--shard=0",
                     "--ps_listen=" + ps_address, "--scheduler=" + scheduler_address}),
      tmp.Sub("ps-0.log"));
  ASSERT_TRUE(server.ok()) << server.status();

  // The client on host 1: a thread moved into that namespace, which makes
  // its transport (and so ZeroMQ's I/O threads) there.
  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table) keys.push_back(key);
  keys.resize(32);
  std::thread client([&] {
    ASSERT_TRUE(hosts.EnterInThisThread(1).ok());
    net::ZmqTransport transport;
    ps::PsClientOptions options;
    proto::ServerAddress address;
    address.set_shard(0);
    address.set_address(ps_address);
    address.set_name("ps-0");
    options.servers.push_back(address);
    options.dim = kDim;
    options.name = "netns-client";
    options.pull_timeout = Duration(1000);
    options.max_attempts = 2;
    std::vector<float> rows(keys.size() * kDim);
    {
      ps::PsClient ps(options, &transport);
      ASSERT_TRUE(ps.Connect().ok());
      // Up: the processes may still be starting, so try until a deadline.
      const Deadline up_by = Deadline::After(Duration(30000));
      Status pulled = UnavailableError("not tried");
      while (!pulled.ok() && !up_by.Expired()) pulled = ps.Pull(keys.data(), keys.size(), rows.data(), nullptr);
      ASSERT_TRUE(pulled.ok()) << pulled << "\nscheduler log:\n"
                               << ReadFile(tmp.Sub("scheduler.log")) << "\nps log:\n"
                               << ReadFile(tmp.Sub("ps-0.log"));
      for (size_t i = 0; i < keys.size(); ++i) {
        ASSERT_EQ(std::memcmp(&rows[i * kDim], table.at(keys[i]).data(), kDim * sizeof(float)), 0);
      }
      // The scheduler answers across the link too (an error reply: the
      // request type is not one it serves; what matters is that it answers).
      StatusOr<std::unique_ptr<net::Connection>> connection = transport.Connect(scheduler_address);
      ASSERT_TRUE(connection.ok());
      net::RpcClient scheduler_client(std::move(connection).value(), "netns-client");
      proto::Envelope request;
      request.mutable_ack();
      StatusOr<net::RpcReply> answered =
          scheduler_client.Call(request, {}, Deadline::After(Duration(10000)));
      EXPECT_EQ(answered.status().code(), StatusCode::kInvalidArgument) << answered.status();

      // Cut the link on the servers' side.
      ASSERT_TRUE(hosts.SetLink(0, /*up=*/false).ok());
      auto start = std::chrono::steady_clock::now();
      Status cut = ps.Pull(keys.data(), keys.size(), rows.data(), nullptr);
      const double pull_s = SecondsSince(start);
      EXPECT_EQ(cut.code(), StatusCode::kUnavailable) << cut;
      EXPECT_NE(cut.message().find(ps_address), std::string::npos) << cut;
      // Two attempts of 1 s each, plus slack for a loaded machine.
      EXPECT_LT(pull_s, 5.0) << cut;

      start = std::chrono::steady_clock::now();
      StatusOr<net::RpcReply> silent =
          scheduler_client.Call(request, {}, Deadline::After(Duration(1000)));
      const double call_s = SecondsSince(start);
      EXPECT_EQ(silent.status().code(), StatusCode::kDeadlineExceeded) << silent.status();
      EXPECT_NE(silent.status().message().find(scheduler_address), std::string::npos)
          << silent.status();
      EXPECT_LT(call_s, 3.0);

      // Restored: the same client pulls again (on a fresh connection if needed).
      ASSERT_TRUE(hosts.SetLink(0, /*up=*/true).ok());
      const Deadline recover_by = Deadline::After(Duration(20000));
      Status again = UnavailableError("not tried");
      while (!again.ok() && !recover_by.Expired()) {
        again = ps.Pull(keys.data(), keys.size(), rows.data(), nullptr);
      }
      EXPECT_TRUE(again.ok()) << again;
      EXPECT_EQ(std::memcmp(rows.data(), table.at(keys[0]).data(), kDim * sizeof(float)), 0);
    }
  });
  client.join();

  // Neither server died of the cut.
  EXPECT_FALSE((*scheduler)->Poll().has_value()) << ReadFile(tmp.Sub("scheduler.log"));
  EXPECT_FALSE((*server)->Poll().has_value()) << ReadFile(tmp.Sub("ps-0.log"));
  (*server)->Stop(Duration(3000));
  (*scheduler)->Stop(Duration(3000));
}

}  // namespace
}  // namespace iak::testing
