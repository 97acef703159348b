// SchedulerClient against a hand-driven fake scheduler: what it sends, and
// how it notices a scheduler that stopped answering.
#include "scheduler/scheduler_client.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net/inproc_transport.h"
#include "net/rpc.h"

namespace iak::scheduler {
namespace {

using ::testing::HasSubstr;

constexpr char kAddress[] = "inproc://fake-scheduler";

SchedulerClientOptions ClientOptions() {
  SchedulerClientOptions options;
  options.scheduler_address = kAddress;
  options.name = "worker-0";
  options.rpc_timeout = Duration(5000);
  return options;
}

// Answers one register request on `listener` with node id 7.
void AnswerRegister(net::Listener* listener, proto::RegisterRequest* seen) {
  net::Incoming incoming;
  ASSERT_TRUE(listener->Receive(&incoming, Deadline::After(Duration(5000))).ok());
  proto::Envelope request;
  std::vector<net::Frame> payload;
  ASSERT_TRUE(net::DecodeMessage(incoming.message, "client", &request, &payload).ok());
  ASSERT_TRUE(request.has_register_request());
  *seen = request.register_request();
  proto::Envelope reply;
  reply.set_request_id(request.request_id());
  reply.mutable_register_response()->set_node_id(7);
  reply.mutable_register_response()->set_heartbeat_interval_ms(10);
  ASSERT_TRUE(listener->Send(incoming.from, net::EncodeMessage(reply, {})).ok());
}

TEST(SchedulerClientTest, CallsBeforeRegisterAreFailedPrecondition) {
  net::InProcTransport transport;
  SchedulerClient client(&transport, ClientOptions());
  EXPECT_EQ(client.Barrier("start", Deadline::After(Duration(10))).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(client.Deregister().code(), StatusCode::kFailedPrecondition);
}

TEST(SchedulerClientTest, RegisterWithoutSchedulerTimesOutNamingIt) {
  net::InProcTransport transport;
  SchedulerClientOptions options = ClientOptions();
  options.rpc_timeout = Duration(20);
  SchedulerClient client(&transport, options);
  auto id = client.Register(proto::RegisterRequest());
  EXPECT_EQ(id.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(id.status().message(), HasSubstr(kAddress));
}

TEST(SchedulerClientTest, SilentSchedulerMeansShutdownNamingIt) {
  net::InProcTransport transport;
  SchedulerClientOptions options = ClientOptions();
  options.max_missed_heartbeats = 2;
  SchedulerClient client(&transport, options);
  proto::RegisterRequest seen;
  {
    auto listener = transport.Listen(kAddress);
    ASSERT_TRUE(listener.ok());
    std::thread fake([&] { AnswerRegister(listener->get(), &seen); });
    proto::RegisterRequest request;
    request.set_role(proto::ROLE_WORKER);
    request.set_rank(3);
    auto id = client.Register(request);
    fake.join();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, 7);
    EXPECT_EQ(client.node_id(), 7);
  }  // the fake scheduler is gone
  EXPECT_EQ(seen.name(), "worker-0");  // defaulted from the options
  EXPECT_EQ(seen.rank(), 3);
  client.StartHeartbeats(nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!client.shutdown_requested() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(client.shutdown_requested());
  EXPECT_THAT(client.shutdown_reason(), HasSubstr(kAddress));
  EXPECT_THAT(client.shutdown_reason(), HasSubstr("2 heartbeats"));
}

// A scheduler that stops answering (hung, or its host gone without a reset)
// while a worker waits at a barrier: the barrier's own deadline is minutes,
// but the wait ends once the heartbeats have declared the scheduler gone.
TEST(SchedulerClientTest, ABarrierStopsWaitingOnceTheHeartbeatsFindTheSchedulerGone) {
  net::InProcTransport transport;
  SchedulerClientOptions options = ClientOptions();
  options.max_missed_heartbeats = 2;
  SchedulerClient client(&transport, options);
  auto listener = transport.Listen(kAddress);  // stays up, answers nothing more
  ASSERT_TRUE(listener.ok());
  proto::RegisterRequest seen;
  std::thread fake([&] { AnswerRegister(listener->get(), &seen); });
  ASSERT_TRUE(client.Register(proto::RegisterRequest()).ok());
  fake.join();
  client.StartHeartbeats(nullptr);

  const auto start = std::chrono::steady_clock::now();
  StatusOr<proto::BarrierResponse> barrier =
      client.Barrier("phase-1", Deadline::After(Duration(600000)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  ASSERT_EQ(barrier.status().code(), StatusCode::kUnavailable) << barrier.status();
  EXPECT_THAT(barrier.status().message(), HasSubstr("barrier 'phase-1'"));
  EXPECT_THAT(barrier.status().message(), HasSubstr("2 heartbeats"));
  EXPECT_THAT(barrier.status().message(), HasSubstr(kAddress));
}

TEST(SchedulerClientTest, DestructionIsPromptWhileHeartbeating) {
  net::InProcTransport transport;
  auto listener = transport.Listen(kAddress);
  ASSERT_TRUE(listener.ok());
  auto client = std::make_unique<SchedulerClient>(&transport, ClientOptions());
  proto::RegisterRequest seen;
  std::thread fake([&] { AnswerRegister(listener->get(), &seen); });
  ASSERT_TRUE(client->Register(proto::RegisterRequest()).ok());
  fake.join();
  client->StartHeartbeats(nullptr);
  const auto start = std::chrono::steady_clock::now();
  client.reset();  // heartbeats go unanswered; the thread must still stop
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace iak::scheduler
