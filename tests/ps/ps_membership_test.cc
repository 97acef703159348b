// PsServer's seam to the job it serves (ps/server_membership.h), with a fake
// membership instead of a scheduler: what the server sends when it joins,
// what its heartbeats carry, that it stops when the job ends and leaves, and
// that a refused join is the server's error.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "embedding/model_directory.h"
#include "net/inproc_transport.h"
#include "ps/ps_server.h"
#include "ps/server_membership.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::ps {
namespace {

using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::TempDir;

constexpr int kDim = 4;

// Records what the server does; the test ends the job with End().
class FakeMembership : public ServerMembership {
 public:
  explicit FakeMembership(Status join_result = Status::Ok()) : join_result_(std::move(join_result)) {}

  StatusOr<int> Join(const proto::RegisterRequest& request,
                     std::function<void(proto::Heartbeat*)> stats) override {
    std::lock_guard<std::mutex> lock(mu_);
    request_ = request;
    stats_ = std::move(stats);
    ++joins_;
    if (!join_result_.ok()) return join_result_;
    return 7;
  }
  bool ended() const override { return ended_.load(); }
  std::string end_reason() const override { return "the fake coordinator is gone"; }
  Status Leave() override {
    ++leaves_;
    return Status::Ok();
  }
  std::string description() const override { return "the fake coordinator"; }

  void End() { ended_.store(true); }
  // One heartbeat as the membership's thread would fill it.
  proto::Heartbeat Beat() {
    std::lock_guard<std::mutex> lock(mu_);
    proto::Heartbeat heartbeat;
    if (stats_) stats_(&heartbeat);
    return heartbeat;
  }
  proto::RegisterRequest request() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_;
  }
  int joins() const { return joins_.load(); }
  int leaves() const { return leaves_.load(); }

 private:
  const Status join_result_;
  std::mutex mu_;
  proto::RegisterRequest request_;                  // guarded by mu_
  std::function<void(proto::Heartbeat*)> stats_;    // guarded by mu_
  std::atomic<int> joins_{0};
  std::atomic<int> leaves_{0};
  std::atomic<bool> ended_{false};
};

class PsMembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_dir_ = tmp_.Sub("model");
    ASSERT_TRUE(embedding::WriteModelDirectory(
                    model_dir_, ContentsOf(RandomTable(/*seed=*/5, /*num_keys=*/50, kDim), kDim, 2))
                    .ok());
  }

  PsServerOptions Options() const {
    PsServerOptions options;
    options.model_dir = model_dir_;
    options.shard = 1;
    options.replica = 1;
    options.name = "ps-1-r1";
    options.listen_address = "inproc://ps-membership";
    options.advertise_address = "tcp://ps-1.example:7001";
    return options;
  }

  TempDir tmp_;
  std::string model_dir_;
  net::InProcTransport transport_;
};

TEST_F(PsMembershipTest, JoinsAsItsShardServesUntilTheJobEndsThenLeaves) {
  PsServer server(Options(), &transport_);
  ASSERT_TRUE(server.Start().ok());
  FakeMembership membership;
  std::atomic<bool> stop{false};
  Status served = InternalError("not run");
  std::thread thread([&] { served = server.Run(stop, &membership); });
  for (int i = 0; i < 10000 && membership.joins() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(membership.joins(), 1);

  const proto::RegisterRequest request = membership.request();
  EXPECT_EQ(request.role(), proto::ROLE_SERVER);
  EXPECT_EQ(request.name(), "ps-1-r1");
  EXPECT_EQ(request.shard(), 1);
  EXPECT_EQ(request.replica(), 1);
  EXPECT_EQ(request.address(), "tcp://ps-1.example:7001");  // advertised, not bound
  EXPECT_GT(request.pid(), 0);
  EXPECT_EQ(membership.Beat().samples(), 0);  // no keys served yet

  membership.End();  // `stop` stays false: the job's end alone stops it
  thread.join();
  EXPECT_TRUE(served.ok()) << served;
  EXPECT_EQ(membership.leaves(), 1);
}

TEST_F(PsMembershipTest, ARefusedJoinIsTheServersErrorAndItDoesNotServe) {
  PsServer server(Options(), &transport_);
  ASSERT_TRUE(server.Start().ok());
  FakeMembership membership(UnavailableError("nobody listens"));
  std::atomic<bool> stop{false};
  Status served = server.Run(stop, &membership);
  ASSERT_FALSE(served.ok());
  EXPECT_EQ(served.code(), StatusCode::kUnavailable);
  EXPECT_NE(served.message().find("ps-1-r1"), std::string::npos) << served;
  EXPECT_NE(served.message().find("the fake coordinator"), std::string::npos) << served;
  EXPECT_EQ(membership.leaves(), 0);
}

TEST_F(PsMembershipTest, WithoutAMembershipItServesUntilStopped) {
  PsServer server(Options(), &transport_);
  ASSERT_TRUE(server.Start().ok());
  std::atomic<bool> stop{true};
  EXPECT_TRUE(server.Run(stop).ok());
}

}  // namespace
}  // namespace iak::ps
