// RPC over every Transport: round trips with multi-frame payloads, pipelined
// requests awaited out of order, deadlines, and garbled frames. The same tests
// run over the in-process transport and ZeroMQ (tcp and ipc).
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "net/inproc_transport.h"
#include "net/rpc.h"
#include "net/zmq_transport.h"

namespace iak::net {
namespace {

enum class Kind { kInProc, kZmqTcp, kZmqIpc };

std::string KindName(const testing::TestParamInfo<Kind>& info) {
  switch (info.param) {
    case Kind::kInProc:
      return "InProc";
    case Kind::kZmqTcp:
      return "ZmqTcp";
    case Kind::kZmqIpc:
      return "ZmqIpc";
  }
  return "Unknown";
}

class RpcTransportTest : public testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    switch (GetParam()) {
      case Kind::kInProc:
        transport_ = std::make_unique<InProcTransport>();
        listen_address_ = "inproc://service";
        break;
      case Kind::kZmqTcp:
        transport_ = std::make_unique<ZmqTransport>();
        listen_address_ = "tcp://127.0.0.1:0";
        break;
      case Kind::kZmqIpc: {
        char dir[] = "/tmp/iak-net-test-XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        temp_dir_ = dir;
        transport_ = std::make_unique<ZmqTransport>();
        listen_address_ = "ipc://" + temp_dir_ + "/service.sock";
        break;
      }
    }
  }

  void TearDown() override {
    StopServer();
    if (!temp_dir_.empty()) {
      unlink((temp_dir_ + "/service.sock").c_str());
      rmdir(temp_dir_.c_str());
    }
  }

  std::unique_ptr<Listener> Listen() {
    auto listener = transport_->Listen(listen_address_);
    EXPECT_TRUE(listener.ok()) << listener.status();
    return std::move(listener).value();
  }

  std::unique_ptr<Connection> Connect(const std::string& address) {
    auto connection = transport_->Connect(address);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return std::move(connection).value();
  }

  // Serves with `handler` on a thread until the test ends; returns the address.
  std::string StartServer(RpcServer::Handler handler) {
    server_ = std::make_unique<RpcServer>(Listen(), RpcServerOptions{});
    const std::string address = server_->address();
    server_thread_ = std::thread([this, handler] { server_->Run(stop_, handler, nullptr); });
    return address;
  }

  void StopServer() {
    stop_ = true;
    if (server_thread_.joinable()) server_thread_.join();
    server_.reset();
  }

  // Replies with the request's payload reversed and num_keys + 1.
  RpcServer::Handler EchoHandler() {
    return [this](RpcCall call) {
      proto::Envelope reply;
      reply.mutable_pull_response()->set_num_keys(call.request.pull_request().num_keys() + 1);
      std::vector<Frame> payload(call.payload.rbegin(), call.payload.rend());
      EXPECT_TRUE(server_->Reply(call, std::move(reply), std::move(payload)).ok());
    };
  }

  static proto::Envelope Request(uint64_t n) {
    proto::Envelope request;
    request.mutable_pull_request()->set_num_keys(n);
    return request;
  }

  std::unique_ptr<Transport> transport_;  // outlives every socket below
  std::string listen_address_;
  std::string temp_dir_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<RpcServer> server_;
  std::thread server_thread_;
};

TEST_P(RpcTransportTest, RoundTripKeepsEveryFrame) {
  const std::string address = StartServer(EchoHandler());
  RpcClient client(Connect(address), "client");
  std::string binary("\0\x01\xff\0", 4);
  std::string big(1 << 20, 'x');
  big[12345] = '\0';
  auto reply = client.Call(Request(41), {binary, "", big}, Deadline::After(Duration(5000)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->header.pull_response().num_keys(), 42u);
  EXPECT_EQ(reply->header.sender(), "server");
  ASSERT_EQ(reply->payload.size(), 3u);
  EXPECT_EQ(reply->payload[0], big);
  EXPECT_EQ(reply->payload[1], "");
  EXPECT_EQ(reply->payload[2], binary);
}

TEST_P(RpcTransportTest, PipelinedRepliesAwaitedOutOfOrder) {
  const std::string address = StartServer(EchoHandler());
  RpcClient client(Connect(address), "client");
  std::vector<uint64_t> ids;
  for (uint64_t n = 0; n < 5; ++n) {
    auto id = client.Send(Request(n * 10), {std::to_string(n)});
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  for (int i : {4, 0, 2, 1, 3}) {
    auto reply = client.Await(ids[i], Deadline::After(Duration(5000)));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->header.request_id(), ids[i]);
    EXPECT_EQ(reply->header.pull_response().num_keys(), static_cast<uint64_t>(i) * 10 + 1);
    ASSERT_EQ(reply->payload.size(), 1u);
    EXPECT_EQ(reply->payload[0], std::to_string(i));
  }
}

TEST_P(RpcTransportTest, SilentListenerMeansDeadlineExceeded) {
  std::unique_ptr<Listener> listener = Listen();  // nobody serves it
  Incoming incoming;
  EXPECT_EQ(listener->Receive(&incoming, Deadline::After(Duration(20))).code(),
            StatusCode::kDeadlineExceeded);
  RpcClient client(Connect(listener->address()), "client");
  auto reply = client.Call(Request(1), {}, Deadline::After(Duration(50)));
  EXPECT_EQ(reply.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(reply.status().message().find(listener->address()), std::string::npos)
      << reply.status();
}

TEST_P(RpcTransportTest, ServerDropsGarbledRequestAndKeepsServing) {
  std::atomic<int> handled{0};
  RpcServer::Handler echo = EchoHandler();
  const std::string address = StartServer([&](RpcCall call) {
    ++handled;
    echo(std::move(call));
  });
  std::unique_ptr<Connection> raw = Connect(address);
  ASSERT_TRUE(raw->Send(Message{{std::string("\xff\xff\xff garbage", 12), "payload"}}).ok());
  RpcClient client(std::move(raw), "client");
  auto reply = client.Call(Request(7), {}, Deadline::After(Duration(5000)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->header.pull_response().num_keys(), 8u);
  EXPECT_EQ(handled.load(), 1);  // the garbled one never reached the handler
}

TEST_P(RpcTransportTest, ClientDropsGarbledReply) {
  std::unique_ptr<Listener> listener = Listen();
  RpcClient client(Connect(listener->address()), "client");
  auto id = client.Send(Request(1));
  ASSERT_TRUE(id.ok());
  Incoming incoming;
  ASSERT_TRUE(listener->Receive(&incoming, Deadline::After(Duration(5000))).ok());
  ASSERT_TRUE(listener->Send(incoming.from, Message{{std::string("\xff\x01", 2)}}).ok());
  proto::Envelope good;
  good.set_request_id(*id);
  good.mutable_ack();
  ASSERT_TRUE(listener->Send(incoming.from, EncodeMessage(good, {"after"})).ok());
  auto reply = client.Await(*id, Deadline::After(Duration(5000)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->header.has_ack());
  EXPECT_EQ(reply->payload, std::vector<Frame>{"after"});
}

TEST_P(RpcTransportTest, DecodeOfGarbageIsDataLoss) {
  proto::Envelope header;
  std::vector<Frame> payload;
  Status status = DecodeMessage(Message{{std::string("\xff\xff\xff", 3)}}, "peer x", &header,
                                &payload);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("peer x"), std::string::npos);
  EXPECT_EQ(DecodeMessage(Message{}, "peer x", &header, &payload).code(), StatusCode::kDataLoss);
}

TEST_P(RpcTransportTest, ErrorReplyBecomesStatus) {
  const std::string address = StartServer([this](RpcCall call) {
    EXPECT_TRUE(server_->ReplyError(call, NotFoundError("no such key")).ok());
  });
  RpcClient client(Connect(address), "client");
  auto reply = client.Call(Request(1), {}, Deadline::After(Duration(5000)));
  EXPECT_EQ(reply.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reply.status().message().find("no such key"), std::string::npos);
}

TEST_P(RpcTransportTest, SendingToUnknownPeerIsUnavailable) {
  std::unique_ptr<Listener> listener = Listen();
  Status sent = listener->Send(PeerId{"nobody", ""}, Message{{"x"}});
  EXPECT_EQ(sent.code(), StatusCode::kUnavailable) << sent;
}

TEST_P(RpcTransportTest, DeferredReplyArrivesLater) {
  // Requests with keys are held (as the scheduler holds barrier calls) and
  // answered when a request without keys arrives. `held` lives on the server
  // thread only.
  std::vector<RpcCall> held;
  const std::string address = StartServer([this, &held](RpcCall call) {
    if (call.request.pull_request().num_keys() != 0) {
      held.push_back(std::move(call));
      return;
    }
    for (const RpcCall& c : held) {
      proto::Envelope reply;
      reply.mutable_pull_response()->set_num_keys(c.request.pull_request().num_keys());
      EXPECT_TRUE(server_->Reply(c, std::move(reply)).ok());
    }
    proto::Envelope reply;
    reply.mutable_pull_response()->set_num_keys(held.size());
    held.clear();
    EXPECT_TRUE(server_->Reply(call, std::move(reply)).ok());
  });
  RpcClient client(Connect(address), "client");
  auto held_id = client.Send(Request(5));
  ASSERT_TRUE(held_id.ok());
  auto release_id = client.Send(Request(0));
  ASSERT_TRUE(release_id.ok());
  auto release = client.Await(*release_id, Deadline::After(Duration(5000)));
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(release->header.pull_response().num_keys(), 1u);
  auto deferred = client.Await(*held_id, Deadline::After(Duration(5000)));
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  EXPECT_EQ(deferred->header.pull_response().num_keys(), 5u);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, RpcTransportTest,
                         testing::Values(Kind::kInProc, Kind::kZmqTcp, Kind::kZmqIpc), KindName);

}  // namespace
}  // namespace iak::net
