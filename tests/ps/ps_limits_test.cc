// Remote-input limits of a parameter server, over real ZeroMQ on loopback:
// a pull of more keys than max_reply_bytes allows is refused before its reply
// is allocated, and a peer that sends pulls but never reads the replies
// cannot make the server queue more than max_queued_bytes_per_peer for it.
#include <zmq.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/rpc.h"
#include "net/zmq_transport.h"
#include "ps/ps_server.h"
#include "tests/embedding/test_model_dir.h"
#include "tests/testing/ps_server_thread.h"

namespace iak::ps {
namespace {

using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::TempDir;

constexpr int kDim = 6;  // float32 rows: 24 bytes each

std::string WriteModel(TempDir* tmp) {
  const std::string dir = tmp->Sub("model");
  embedding::SnapshotContents contents = ContentsOf(RandomTable(7, 100, kDim), kDim, 1);
  contents.options.dtype = embedding::RowDtype::kFloat32;
  Status written = embedding::WriteModelDirectory(dir, contents);
  EXPECT_TRUE(written.ok()) << written;
  return dir;
}

proto::Envelope PullHeader(uint64_t n) {
  proto::Envelope request;
  request.set_sender("attacker");
  request.mutable_pull_request()->set_num_keys(n);
  return request;
}

std::string KeyFrame(uint64_t n) {
  std::vector<uint64_t> keys(n);
  for (uint64_t i = 0; i < n; ++i) keys[i] = 1000000 + i;  // absent keys: zero rows
  return std::string(reinterpret_cast<const char*>(keys.data()), n * sizeof(uint64_t));
}

// Waits (bounded) until `done` holds; false if it never did.
template <typename F>
bool WaitFor(F done, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}

TEST(PsLimitsTest, PullOfMoreKeysThanTheReplyLimitIsRefusedAndTheServerKeepsServing) {
  TempDir tmp;
  net::ZmqTransport transport;
  PsServerOptions options;
  options.model_dir = WriteModel(&tmp);
  options.name = "ps-limits";
  options.max_reply_bytes = 24 * 1000;  // 1000 rows of 24 bytes
  testing_util::PsServerThread server;
  ASSERT_TRUE(server.Start(options, &transport).ok());
  EXPECT_EQ(server.server()->max_keys_per_pull(), 1000u);

  auto connection = transport.Connect(server.server()->address());
  ASSERT_TRUE(connection.ok());
  net::RpcClient client(std::move(connection).value(), "attacker");
  StatusOr<net::RpcReply> big =
      client.Call(PullHeader(1001), {KeyFrame(1001)}, Deadline::After(Duration(10000)));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument) << big.status();
  EXPECT_NE(big.status().message().find("at most 1000 per pull"), std::string::npos)
      << big.status();
  StatusOr<net::RpcReply> fits =
      client.Call(PullHeader(1000), {KeyFrame(1000)}, Deadline::After(Duration(10000)));
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->payload.at(0).size(), 1000u * 24);
  EXPECT_EQ(server.server()->requests_refused(), 1u);
}

TEST(PsLimitsTest, PeerThatNeverReadsCannotMakeTheServerQueueMoreThanItsQuota) {
  TempDir tmp;
  net::ZmqTransportOptions transport_options;
  transport_options.max_queued_bytes_per_peer = uint64_t{4} << 20;
  net::ZmqTransport transport(transport_options);
  PsServerOptions options;
  options.model_dir = WriteModel(&tmp);
  options.name = "ps-quota";
  options.max_reply_bytes = uint64_t{1} << 20;
  testing_util::PsServerThread server;
  ASSERT_TRUE(server.Start(options, &transport).ok());

  // A raw DEALER that takes one message and then stops reading: its ZeroMQ
  // stops draining the socket, so replies back up on the server.
  void* context = zmq_ctx_new();
  void* dealer = zmq_socket(context, ZMQ_DEALER);
  const int one = 1;
  const int small = 4096;
  const int zero = 0;
  zmq_setsockopt(dealer, ZMQ_RCVHWM, &one, sizeof(one));
  zmq_setsockopt(dealer, ZMQ_RCVBUF, &small, sizeof(small));
  zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof(zero));
  ASSERT_EQ(zmq_connect(dealer, server.server()->address().c_str()), 0);

  const uint64_t keys = server.server()->max_keys_per_pull();  // a ~1 MiB reply each
  constexpr int kPulls = 60;
  for (int i = 0; i < kPulls; ++i) {
    proto::Envelope header = PullHeader(keys);
    header.set_request_id(static_cast<uint64_t>(i + 1));
    const std::string head = header.SerializeAsString();
    const std::string body = KeyFrame(keys);
    ASSERT_EQ(zmq_send(dealer, head.data(), head.size(), ZMQ_SNDMORE),
              static_cast<int>(head.size()));
    ASSERT_EQ(zmq_send(dealer, body.data(), body.size(), 0), static_cast<int>(body.size()));
  }
  PsServer* ps = server.server();
  ASSERT_TRUE(WaitFor([&] { return ps->pulls_served() + ps->replies_dropped() >= kPulls; }))
      << ps->pulls_served() << " served, " << ps->replies_dropped() << " dropped";
  // 4 MiB queued plus what the kernel's socket buffers took: far below 60.
  EXPECT_LT(ps->pulls_served(), 30u);
  EXPECT_GT(ps->replies_dropped(), 30u);

  // Others are still served.
  auto connection = transport.Connect(ps->address());
  ASSERT_TRUE(connection.ok());
  net::RpcClient client(std::move(connection).value(), "worker-0");
  StatusOr<net::RpcReply> fine =
      client.Call(PullHeader(10), {KeyFrame(10)}, Deadline::After(Duration(10000)));
  EXPECT_TRUE(fine.ok()) << fine.status();

  zmq_close(dealer);
  zmq_ctx_term(context);
}

}  // namespace
}  // namespace iak::ps
