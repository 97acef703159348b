// Log hygiene for peer-supplied text: escaping (a newline cannot forge a log
// line), the rate limiter (a flood writes a bounded number of lines), and the
// RPC server applying both to a real ZeroMQ peer's sender name.
#include "net/log_field.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "net/rpc.h"
#include "net/zmq_transport.h"

namespace iak::net {
namespace {

TEST(LogFieldTest, EscapesNewlinesControlBytesAndBackslashesAndCutsLongText) {
  EXPECT_EQ(EscapeForLog("worker-0"), "worker-0");
  EXPECT_EQ(EscapeForLog("a\nI1204 12:00:00 forged"), "a\\x0aI1204 12:00:00 forged");
  EXPECT_EQ(EscapeForLog(std::string("\x1b[2J\0\\", 6)), "\\x1b[2J\\x00\\\\");
  const std::string escaped = EscapeForLog(std::string(10000, 'x'), 16);
  EXPECT_EQ(escaped, std::string(16, 'x') + "...(10000 bytes)");
  EXPECT_EQ(EscapeForLog("\n").find('\n'), std::string::npos);
}

TEST(LogFieldTest, RateLimiterAllowsABudgetPerWindowAndCountsTheRest) {
  ManualClock clock;
  LogRateLimiter limiter(LogRateLimitOptions{3, Duration(1000)}, &clock);
  uint64_t suppressed = 99;
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += limiter.Allow(&suppressed) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
  EXPECT_EQ(limiter.suppressed_total(), 47u);
  clock.Advance(Duration(1000));
  ASSERT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 47u);  // the next line says how many were held back
  EXPECT_EQ(SuppressedNote(47), " (47 similar lines suppressed)");
  EXPECT_EQ(SuppressedNote(0), "");
}

TEST(LogFieldTest, RpcServerHandsHandlersAnEscapedSenderAndPeerOrigin) {
  ZmqTransport transport;
  auto listener = transport.Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  RpcServer server(std::move(listener).value(), RpcServerOptions{});
  std::atomic<bool> stop{false};
  std::string seen_sender;
  std::string seen_origin;
  std::thread loop([&] {
    server.Run(
        stop,
        [&](RpcCall call) {
          seen_sender = call.request.sender();
          seen_origin = call.peer.origin;
          proto::Envelope reply;
          reply.mutable_ack();
          EXPECT_TRUE(server.Reply(call, std::move(reply)).ok());
        },
        nullptr);
  });
  auto connection = transport.Connect(server.address());
  ASSERT_TRUE(connection.ok());
  RpcClient client(std::move(connection).value(),
                   "evil\nE1204 00:00:00.000000 1 scheduler.cc:1] job failed" +
                       std::string(500, 'A'));
  proto::Envelope request;
  request.mutable_ack();
  StatusOr<RpcReply> reply = client.Call(request, {}, Deadline::After(Duration(10000)));
  stop.store(true);
  loop.join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(seen_sender.find('\n'), std::string::npos) << seen_sender;
  EXPECT_EQ(seen_sender.rfind("evil\\x0aE1204", 0), 0u) << seen_sender;
  EXPECT_LT(seen_sender.size(), 100u) << seen_sender;
  // Every connection of one transport shares its origin: "p<pid>-<random>".
  EXPECT_EQ(seen_origin.rfind("p", 0), 0u) << seen_origin;
  EXPECT_EQ(seen_origin.find('-', seen_origin.find('-') + 1), std::string::npos) << seen_origin;
}

}  // namespace
}  // namespace iak::net
