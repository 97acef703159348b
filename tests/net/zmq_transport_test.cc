// ZeroMQ-specific behaviour: ephemeral ports, bind errors, address checks,
// queueing before the listener exists, and several threads at once.
#include "net/zmq_transport.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "net/rpc.h"

namespace iak::net {
namespace {

TEST(ZmqTransportTest, PortZeroBindsAFreePortAndReportsIt) {
  ZmqTransport transport;
  auto listener = transport.Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address();
  ASSERT_EQ(address.rfind("tcp://127.0.0.1:", 0), 0u) << address;
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  EXPECT_GT(port, 0);
}

TEST(ZmqTransportTest, PortInUseIsUnavailableNamingTheAddress) {
  ZmqTransport transport;
  auto first = transport.Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = (*first)->address();
  auto second = transport.Listen(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(taken), std::string::npos) << second.status();
}

TEST(ZmqTransportTest, UnsupportedAddressesAreInvalidArgument) {
  ZmqTransport transport;
  for (const std::string bad : {"inproc://x", "127.0.0.1:5555", "tcp://127.0.0.1", "ipc://"}) {
    EXPECT_EQ(transport.Listen(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(transport.Connect(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ZmqTransportTest, MessagesQueueUntilTheListenerAppears) {
  char dir[] = "/tmp/iak-zmq-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string address = std::string("ipc://") + dir + "/late.sock";
  {
    ZmqTransport transport;
    auto connection = transport.Connect(address);
    ASSERT_TRUE(connection.ok()) << connection.status();
    ASSERT_TRUE((*connection)->Send(Message{{"early", "bird"}}).ok());
    auto listener = transport.Listen(address);
    ASSERT_TRUE(listener.ok()) << listener.status();
    Incoming incoming;
    ASSERT_TRUE((*listener)->Receive(&incoming, Deadline::After(Duration(5000))).ok());
    EXPECT_EQ(incoming.message.frames, (std::vector<Frame>{"early", "bird"}));
    // The reply finds its way back by the routing identity.
    ASSERT_TRUE((*listener)->Send(incoming.from, Message{{"reply"}}).ok());
    Message reply;
    ASSERT_TRUE((*connection)->Receive(&reply, Deadline::After(Duration(5000))).ok());
    EXPECT_EQ(reply.frames, std::vector<Frame>{"reply"});
  }
  unlink((std::string(dir) + "/late.sock").c_str());
  rmdir(dir);
}

TEST(ZmqTransportTest, ClosingWithUnsentMessagesDoesNotBlock) {
  ZmqTransport transport;
  auto connection = transport.Connect("tcp://127.0.0.1:1");  // nobody there
  ASSERT_TRUE(connection.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*connection)->Send(Message{{"lost"}}).ok());
  connection.value().reset();
  // ~ZmqTransport returns promptly: LINGER 0 drops the queue.
}

TEST(ZmqTransportTest, ManyClientThreadsShareOneTransport) {
  ZmqTransport transport;
  auto listener = transport.Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener.ok());
  RpcServer server(std::move(listener).value(), RpcServerOptions{});
  const std::string address = server.address();
  std::atomic<bool> stop{false};
  std::thread serving([&] {
    server.Run(stop, [&](RpcCall call) {
      proto::Envelope reply;
      reply.mutable_ack();
      EXPECT_TRUE(server.Reply(call, std::move(reply), std::move(call.payload)).ok());
    }, nullptr);
  });
  constexpr int kThreads = 4;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      auto connection = transport.Connect(address);
      ASSERT_TRUE(connection.ok());
      RpcClient client(std::move(connection).value(), "client-" + std::to_string(t));
      for (int i = 0; i < 20; ++i) {
        const std::string tag = std::to_string(t) + "/" + std::to_string(i);
        proto::Envelope request;
        request.mutable_ack();
        auto reply = client.Call(request, {tag}, Deadline::After(Duration(5000)));
        ASSERT_TRUE(reply.ok()) << reply.status();
        ASSERT_EQ(reply->payload, std::vector<Frame>{tag});
      }
      ++ok;
    });
  }
  for (std::thread& c : clients) c.join();
  stop = true;
  serving.join();
  EXPECT_EQ(ok.load(), kThreads);
}

// A part over max_message_bytes never reaches the listener (ZeroMQ drops its
// sender before buffering it); other peers are still heard.
TEST(ZmqTransportTest, ListenerDropsAPeerSendingAMessageOverTheLimit) {
  ZmqTransportOptions options;
  options.max_message_bytes = 1024;
  ZmqTransport transport(options);
  auto listener = transport.Listen("tcp://127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto big = transport.Connect((*listener)->address());
  ASSERT_TRUE(big.ok());
  ASSERT_TRUE((*big)->Send(Message{{std::string(4096, 'x')}}).ok());
  auto small = transport.Connect((*listener)->address());
  ASSERT_TRUE(small.ok());
  ASSERT_TRUE((*small)->Send(Message{{std::string(1000, 'y')}}).ok());
  Incoming incoming;
  Status got = (*listener)->Receive(&incoming, Deadline::After(Duration(10000)));
  ASSERT_TRUE(got.ok()) << got;
  ASSERT_EQ(incoming.message.frames.size(), 1u);
  EXPECT_EQ(incoming.message.frames[0], std::string(1000, 'y'));
  got = (*listener)->Receive(&incoming, Deadline::After(Duration(300)));
  EXPECT_EQ(got.code(), StatusCode::kDeadlineExceeded) << got;
}

}  // namespace
}  // namespace iak::net
