// CURVE on the ZeroMQ transport: nodes holding the job key talk; a peer
// without it is refused (no reply, and the server's ZAP handler counts it).
#include "net/curve.h"

#include <gtest/gtest.h>
#include <zmq.h>

#include <fstream>
#include <thread>

#include "net/rpc.h"
#include "net/zmq_transport.h"

namespace iak::net {
namespace {

constexpr Duration kServeTick(10);

// Serves one ack per request on its own thread until destroyed.
class EchoServer {
 public:
  explicit EchoServer(ZmqTransport* transport) {
    StatusOr<std::unique_ptr<Listener>> listener = transport->Listen("tcp://127.0.0.1:0");
    CHECK(listener.ok()) << listener.status();
    RpcServerOptions options;
    options.tick = kServeTick;
    server_ = std::make_unique<RpcServer>(std::move(listener).value(), options);
    address_ = server_->address();
    thread_ = std::thread([this] {
      server_->Run(
          stop_,
          [this](RpcCall call) {
            proto::Envelope reply;
            reply.mutable_ack();
            server_->Reply(call, reply).IgnoreError();
          },
          nullptr);
    });
  }
  ~EchoServer() {
    stop_.store(true);
    thread_.join();
  }
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<RpcServer> server_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Status Ping(ZmqTransport* transport, const std::string& address, Duration timeout) {
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, transport->Connect(address));
  RpcClient client(std::move(connection), "test-client");
  proto::Envelope request;
  request.mutable_ack();
  return client.Call(request, {}, Deadline::After(timeout)).status();
}

ZmqTransportOptions WithKey(const CurveKeyPair& keys) {
  ZmqTransportOptions options;
  options.curve = keys;
  return options;
}

TEST(CurveTest, NodesWithTheJobKeyTalk) {
  StatusOr<CurveKeyPair> keys = GenerateCurveKeyPair();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ZmqTransport server_side(WithKey(*keys));
  ZmqTransport client_side(WithKey(*keys));
  EchoServer server(&server_side);
  EXPECT_TRUE(Ping(&client_side, server.address(), Duration(10000)).ok());
  EXPECT_EQ(server_side.refused_peers(), 0u);
}

TEST(CurveTest, AClientWithAnotherKeyIsRefused) {
  StatusOr<CurveKeyPair> job = GenerateCurveKeyPair();
  StatusOr<CurveKeyPair> intruder = GenerateCurveKeyPair();
  ASSERT_TRUE(job.ok() && intruder.ok());
  ZmqTransport server_side(WithKey(*job));
  EchoServer server(&server_side);
  // The intruder knows the server's public key but not the job's secret key.
  CurveKeyPair half_known = *intruder;
  ZmqTransportOptions options;
  options.curve = half_known;
  ZmqTransport intruder_side(options);
  // Its own CURVE handshake targets the server with its own key as the
  // server key, so it also cannot complete: either way, no reply.
  Status s = Ping(&intruder_side, server.address(), Duration(500));
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s;
}

TEST(CurveTest, ZapRefusesAClientKeyThatIsNotTheJobs) {
  StatusOr<CurveKeyPair> job = GenerateCurveKeyPair();
  StatusOr<CurveKeyPair> other = GenerateCurveKeyPair();
  ASSERT_TRUE(job.ok() && other.ok());
  ZmqTransport server_side(WithKey(*job));
  EchoServer server(&server_side);
  // A client that learnt the server's public key and presents its own pair:
  // the handshake reaches ZAP, which refuses the unknown client key.
  void* context = zmq_ctx_new();
  void* socket = zmq_socket(context, ZMQ_DEALER);
  const int zero = 0;
  zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof(zero));
  zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, job->public_key.c_str(), 40);
  zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, other->public_key.c_str(), 40);
  zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, other->secret_key.c_str(), 40);
  ASSERT_EQ(zmq_connect(socket, server.address().c_str()), 0);
  proto::Envelope request;
  request.mutable_ack();
  const std::string bytes = request.SerializeAsString();
  zmq_send(socket, bytes.data(), bytes.size(), ZMQ_DONTWAIT);
  zmq_pollitem_t item{socket, 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq_poll(&item, 1, 500), 0) << "an unknown client got a reply";
  // ZAP has seen and refused it (bounded wait: the handshake is asynchronous).
  const Deadline seen = Deadline::After(Duration(5000));
  while (server_side.refused_peers() == 0 && !seen.Expired()) {
    zmq_poll(nullptr, 0, 10);
  }
  EXPECT_GE(server_side.refused_peers(), 1u);
  zmq_close(socket);
  zmq_ctx_term(context);
}

TEST(CurveTest, APlainClientGetsNoReply) {
  StatusOr<CurveKeyPair> job = GenerateCurveKeyPair();
  ASSERT_TRUE(job.ok());
  ZmqTransport server_side(WithKey(*job));
  ZmqTransport plain;
  EchoServer server(&server_side);
  EXPECT_EQ(Ping(&plain, server.address(), Duration(500)).code(), StatusCode::kDeadlineExceeded);
}

TEST(CurveTest, KeyFilesRoundTripAndBadOnesAreNamed) {
  StatusOr<CurveKeyPair> keys = GenerateCurveKeyPair();
  ASSERT_TRUE(keys.ok());
  const std::string path = testing::TempDir() + "/job.key";
  ASSERT_TRUE(WriteCurveKeyFile(path, *keys).ok());
  StatusOr<CurveKeyPair> read = ReadCurveKeyFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->public_key, keys->public_key);
  EXPECT_EQ(read->secret_key, keys->secret_key);
  const std::string bad = testing::TempDir() + "/bad.key";
  std::ofstream(bad) << "public: short\nsecret: short\n";
  Status s = ReadCurveKeyFile(bad).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(bad), std::string::npos);
  EXPECT_EQ(ReadCurveKeyFile("/nonexistent.key").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace iak::net
