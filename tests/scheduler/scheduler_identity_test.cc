// A node is bound to the process (transport origin) that registered it: a
// forged deregistration or a second claim of a held rank from another
// process is refused, not obeyed, and the rendezvous store takes writes only
// from registered workers, within its size limits. Real ZeroMQ on loopback;
// two ZmqTransports play two processes.
#include <future>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net/rpc.h"
#include "net/zmq_transport.h"
#include "scheduler/scheduler.h"

namespace iak::scheduler {
namespace {

using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::seconds(20);  // only a hang hits it

proto::RegisterRequest Worker(int rank) {
  proto::RegisterRequest request;
  request.set_role(proto::ROLE_WORKER);
  request.set_rank(rank);
  request.set_name("worker-" + std::to_string(rank));
  request.set_host("h");
  request.set_pid(42);
  return request;
}

class SchedulerIdentityTest : public testing::Test {
 protected:
  void TearDown() override {
    stop_ = true;
    if (run_.valid()) run_.wait();
  }

  void Start(SchedulerOptions options) {
    options.listen_address = "tcp://127.0.0.1:0";
    options.num_servers = 0;
    options.heartbeat_interval = Duration(100);
    options.heartbeat_timeout = Duration(60000);
    scheduler_ = std::make_unique<Scheduler>(std::move(options), &scheduler_transport_);
    ASSERT_TRUE(scheduler_->Start().ok());
    run_ = std::async(std::launch::async, [this] { return scheduler_->Run(stop_); });
  }

  std::unique_ptr<net::RpcClient> Client(net::ZmqTransport* transport, const std::string& name) {
    auto connection = transport->Connect(scheduler_->address());
    EXPECT_TRUE(connection.ok());
    return std::make_unique<net::RpcClient>(std::move(connection).value(), name);
  }

  static StatusOr<net::RpcReply> Call(net::RpcClient* client, const proto::Envelope& request) {
    return client->Call(request, {}, Deadline::After(Duration(10000)));
  }

  static StatusOr<int> Register(net::RpcClient* client, const proto::RegisterRequest& request) {
    proto::Envelope envelope;
    *envelope.mutable_register_request() = request;
    IAK_ASSIGN_OR_RETURN(net::RpcReply reply, Call(client, envelope));
    return static_cast<int>(reply.header.register_response().node_id());
  }

  static Status Deregister(net::RpcClient* client, int node, const std::string& error) {
    proto::Envelope envelope;
    envelope.mutable_deregister()->set_node_id(node);
    envelope.mutable_deregister()->set_error(error);
    return Call(client, envelope).status();
  }

  static Status StoreSet(net::RpcClient* client, const std::string& key, size_t bytes) {
    proto::Envelope envelope;
    envelope.mutable_store_set()->set_key(key);
    envelope.mutable_store_set()->set_value(std::string(bytes, 'v'));
    return Call(client, envelope).status();
  }

  Status RunResult() {
    if (run_.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "Scheduler::Run did not return";
      stop_ = true;
    }
    return run_.get();
  }

  net::ZmqTransport scheduler_transport_;
  net::ZmqTransport worker_transport_;    // the real worker's process
  net::ZmqTransport attacker_transport_;  // another process on the network
  std::unique_ptr<Scheduler> scheduler_;
  std::atomic<bool> stop_{false};
  std::future<Status> run_;
};

TEST_F(SchedulerIdentityTest, ForgedDeregisterWithAnErrorIsRefusedAndTheJobGoesOn) {
  SchedulerOptions options;
  options.num_workers = 1;
  Start(options);
  auto worker = Client(&worker_transport_, "worker-0");
  StatusOr<int> node = Register(worker.get(), Worker(0));
  ASSERT_TRUE(node.ok()) << node.status();

  auto attacker = Client(&attacker_transport_, "worker-0");
  Status forged = Deregister(attacker.get(), *node, "forged\nfailure");
  EXPECT_EQ(forged.code(), StatusCode::kFailedPrecondition) << forged;
  EXPECT_THAT(forged.message(), HasSubstr("another process"));

  // The job is intact: the real worker passes the (only) barrier and leaves.
  proto::Envelope barrier;
  barrier.mutable_barrier_request()->set_node_id(*node);
  barrier.mutable_barrier_request()->set_name("end");
  StatusOr<net::RpcReply> passed = Call(worker.get(), barrier);
  ASSERT_TRUE(passed.ok()) << passed.status();
  EXPECT_EQ(passed->header.barrier_response().command().phase(), proto::PHASE_FINISHED);
  ASSERT_TRUE(Deregister(worker.get(), *node, "").ok());
  Status ran = RunResult();
  EXPECT_TRUE(ran.ok()) << ran;
}

TEST_F(SchedulerIdentityTest, SecondClaimOfAHeldRankFromAnotherProcessIsRefused) {
  SchedulerOptions options;
  options.num_workers = 1;
  Start(options);
  auto worker = Client(&worker_transport_, "worker-0");
  StatusOr<int> node = Register(worker.get(), Worker(0));
  ASSERT_TRUE(node.ok()) << node.status();
  // The same request from another process (name, host and pid copied) is a
  // second claim, not a retry: it gets no node id.
  auto attacker = Client(&attacker_transport_, "worker-0");
  StatusOr<int> stolen = Register(attacker.get(), Worker(0));
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.status().code(), StatusCode::kAlreadyExists) << stolen.status();
  // A retry from the worker's own process still gets its id back.
  StatusOr<int> retried = Register(worker.get(), Worker(0));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, *node);
  // And a heartbeat in its name from the other process is refused.
  proto::Envelope heartbeat;
  heartbeat.mutable_heartbeat()->set_node_id(*node);
  EXPECT_EQ(Call(attacker.get(), heartbeat).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerIdentityTest, StoreTakesWritesOnlyFromRegisteredWorkersWithinItsLimits) {
  SchedulerOptions options;
  options.num_workers = 2;
  options.elastic.enabled = true;
  options.elastic.min_workers = 1;
  options.store.max_value_bytes = 1024;
  options.store.max_bytes_per_writer = 3500;
  Start(options);
  auto attacker = Client(&attacker_transport_, "anyone");
  Status unregistered = StoreSet(attacker.get(), "epoch-1/x", 10);
  EXPECT_EQ(unregistered.code(), StatusCode::kFailedPrecondition) << unregistered;
  EXPECT_THAT(unregistered.message(), HasSubstr("registered workers"));

  auto worker = Client(&worker_transport_, "worker-0");
  StatusOr<int> node = Register(worker.get(), Worker(0));
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_TRUE(StoreSet(worker.get(), "epoch-1/rank-0", 1000).ok());
  Status big = StoreSet(worker.get(), "epoch-1/big", 1025);
  EXPECT_EQ(big.code(), StatusCode::kInvalidArgument) << big;
  EXPECT_THAT(big.message(), HasSubstr("max_value_bytes"));
  // Overwriting a key does not count twice; new keys run into the quota.
  EXPECT_TRUE(StoreSet(worker.get(), "epoch-1/rank-0", 1000).ok());
  EXPECT_TRUE(StoreSet(worker.get(), "epoch-1/a", 1000).ok());
  EXPECT_TRUE(StoreSet(worker.get(), "epoch-1/b", 1000).ok());
  Status quota = StoreSet(worker.get(), "epoch-1/c", 1000);
  EXPECT_EQ(quota.code(), StatusCode::kUnavailable) << quota;
  EXPECT_THAT(quota.message(), HasSubstr("max_bytes_per_writer"));
  // The attacker still cannot write, even under another's name.
  EXPECT_FALSE(StoreSet(attacker.get(), "epoch-1/rank-0", 10).ok());
}

}  // namespace
}  // namespace iak::scheduler
