// Parameter servers for a two-shard snapshot, run as threads over an
// in-process transport, pulled from by a PsClient.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "net/inproc_transport.h"
#include "net/rpc.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::ps {
namespace {

using embedding::testing::AbsentKeys;
using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 4;
constexpr int kShards = 2;

class EmbeddingPsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = RandomTable(/*seed=*/11, /*num_keys=*/500, kDim);
    model_dir_ = tmp_.Sub("model");
    Status written =
        embedding::WriteModelDirectory(model_dir_, ContentsOf(table_, kDim, kShards));
    ASSERT_TRUE(written.ok()) << written;
    for (int s = 0; s < kShards; ++s) {
      PsServerOptions options;
      options.model_dir = model_dir_;
      options.shard = s;
      options.listen_address = "inproc://ps-" + std::to_string(s);
      options.name = "ps-" + std::to_string(s);
      servers_.push_back(std::make_unique<PsServer>(options, &transport_));
      Status started = servers_.back()->Start();
      ASSERT_TRUE(started.ok()) << started;
    }
    for (auto& server : servers_) {
      threads_.emplace_back([this, s = server.get()] {
        Status ran = s->Run(stop_);
        EXPECT_TRUE(ran.ok()) << ran;
      });
    }
  }

  void TearDown() override {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
  }

  PsClientOptions ClientOptions() const {
    PsClientOptions options;
    for (int s = kShards - 1; s >= 0; --s) {  // any order will do
      proto::ServerAddress server;
      server.set_shard(s);
      server.set_address(servers_[s]->address());
      server.set_name("ps-" + std::to_string(s));
      options.servers.push_back(server);
    }
    options.snapshot_id = servers_[0]->snapshot_id();
    options.dim = kDim;
    options.pull_timeout = Duration(2000);
    options.name = "worker-0";
    return options;
  }

  TempDir tmp_;
  Table table_;
  std::string model_dir_;
  net::InProcTransport transport_;
  std::vector<std::unique_ptr<PsServer>> servers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

TEST_F(EmbeddingPsTest, PullReturnsExactRowsFromBothShards) {
  EXPECT_EQ(servers_[0]->snapshot_id(), embedding::ReadManifest(model_dir_)->snapshot_id());
  EXPECT_EQ(servers_[0]->address(), "inproc://ps-0");
  PsClient client(ClientOptions(), &transport_);
  ASSERT_TRUE(client.Connect().ok());

  std::vector<uint64_t> keys;
  int per_shard[kShards] = {0, 0};
  for (const auto& [key, row] : table_) {
    keys.push_back(key);
    ++per_shard[ShardOfKey(key, kShards)];
    if (keys.size() == 200) break;
  }
  ASSERT_GT(per_shard[0], 0);
  ASSERT_GT(per_shard[1], 0);
  const std::vector<uint64_t> absent = AbsentKeys(table_, 3, 17);
  keys.insert(keys.begin() + 5, absent.begin(), absent.end());
  keys.push_back(keys[0]);  // repeated keys come back twice

  for (int round = 0; round < 3; ++round) {  // connections are reused
    std::vector<float> rows(keys.size() * kDim, -7.0f);
    PullStats stats;
    Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), &stats);
    ASSERT_TRUE(pulled.ok()) << pulled;
    EXPECT_EQ(stats.keys, keys.size());
    EXPECT_EQ(stats.missing, absent.size());
    EXPECT_EQ(stats.requests, kShards);
    EXPECT_EQ(stats.retries, 0);
    EXPECT_EQ(stats.bytes, keys.size() * (8 + kDim * sizeof(float)));
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = table_.find(keys[i]);
      const std::vector<float> expected =
          it == table_.end() ? std::vector<float>(kDim, 0.0f) : it->second;
      ASSERT_EQ(std::memcmp(&rows[i * kDim], expected.data(), kDim * sizeof(float)), 0)
          << "key " << i;
    }
  }
  // An empty pull is fine and sends nothing.
  PullStats stats;
  ASSERT_TRUE(client.Pull(nullptr, 0, nullptr, &stats).ok());
  EXPECT_EQ(stats.requests, 0);
  EXPECT_EQ(servers_[0]->pulls_served() + servers_[1]->pulls_served(), 3u * kShards);
}

TEST_F(EmbeddingPsTest, OtherSnapshotIsRefused) {
  PsClientOptions options = ClientOptions();
  options.snapshot_id = "0123456789abcdef";
  PsClient client(options, &transport_);
  ASSERT_TRUE(client.Connect().ok());
  const uint64_t key = table_.begin()->first;
  std::vector<float> row(kDim);
  Status pulled = client.Pull(&key, 1, row.data(), nullptr);
  ASSERT_EQ(pulled.code(), StatusCode::kFailedPrecondition) << pulled;
  EXPECT_NE(pulled.message().find("0123456789abcdef"), std::string::npos) << pulled;
  EXPECT_NE(pulled.message().find(servers_[0]->snapshot_id()), std::string::npos) << pulled;
  EXPECT_NE(pulled.message().find("worker-0"), std::string::npos) << pulled;
}

TEST_F(EmbeddingPsTest, MalformedRequestsGetErrorsAndServingGoesOn) {
  StatusOr<std::unique_ptr<net::Connection>> connection = transport_.Connect("inproc://ps-0");
  ASSERT_TRUE(connection.ok());
  net::RpcClient raw(std::move(connection).value(), "bad-worker");

  proto::Envelope request;
  request.mutable_pull_request()->set_num_keys(3);
  StatusOr<net::RpcReply> reply =
      raw.Call(request, {std::string(20, 'x')}, Deadline::After(Duration(2000)));
  ASSERT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();
  EXPECT_NE(reply.status().message().find("bad-worker"), std::string::npos) << reply.status();
  EXPECT_NE(reply.status().message().find("20 bytes"), std::string::npos) << reply.status();

  reply = raw.Call(request, {}, Deadline::After(Duration(2000)));
  EXPECT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();

  proto::Envelope heartbeat;
  heartbeat.mutable_heartbeat()->set_node_id(1);
  reply = raw.Call(heartbeat, {}, Deadline::After(Duration(2000)));
  ASSERT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << reply.status();
  EXPECT_NE(reply.status().message().find("heartbeat"), std::string::npos) << reply.status();
  EXPECT_EQ(servers_[0]->requests_refused(), 3u);

  // A well-formed request on the same connection is still served.
  uint64_t key = 0;
  for (const auto& [k, row] : table_) {
    if (ShardOfKey(k, kShards) == 0) key = k;
  }
  proto::Envelope pull;
  pull.mutable_pull_request()->set_num_keys(1);
  reply = raw.Call(pull, {std::string(reinterpret_cast<const char*>(&key), 8)},
                   Deadline::After(Duration(2000)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->header.pull_response().missing(), 0u);
  ASSERT_EQ(reply->payload.size(), 1u);
  EXPECT_EQ(std::memcmp(reply->payload[0].data(), table_.at(key).data(), kDim * sizeof(float)),
            0);
}

TEST_F(EmbeddingPsTest, ServerThatNeverAnswersIsUnavailable) {
  PsClientOptions options = ClientOptions();
  options.servers[0].set_address("inproc://nobody");  // shard 1's entry
  options.pull_timeout = Duration(30);
  options.max_attempts = 2;
  PsClient client(options, &transport_);
  ASSERT_TRUE(client.Connect().ok());
  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table_) keys.push_back(key);
  std::vector<float> rows(keys.size() * kDim);
  PullStats stats;
  Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), &stats);
  ASSERT_EQ(pulled.code(), StatusCode::kUnavailable) << pulled;
  EXPECT_NE(pulled.message().find("inproc://nobody"), std::string::npos) << pulled;
  EXPECT_NE(pulled.message().find("shard 1"), std::string::npos) << pulled;
  EXPECT_EQ(stats.retries, 1);
}

TEST_F(EmbeddingPsTest, BadOptionsAreRefused) {
  PsServerOptions options;
  options.model_dir = model_dir_;
  options.shard = kShards;
  options.listen_address = "inproc://ps-x";
  PsServer server(options, &transport_);
  EXPECT_EQ(server.Start().code(), StatusCode::kInvalidArgument);
  std::atomic<bool> stop{true};
  EXPECT_EQ(server.Run(stop).code(), StatusCode::kFailedPrecondition);

  options.shard = 0;
  options.model_dir = tmp_.Sub("nothing-here");
  PsServer missing(options, &transport_);
  EXPECT_EQ(missing.Start().code(), StatusCode::kNotFound);

  PsClientOptions client_options = ClientOptions();
  client_options.servers[1].set_shard(1);  // shard 1 twice, shard 0 never
  PsClient client(client_options, &transport_);
  EXPECT_EQ(client.Connect().code(), StatusCode::kInvalidArgument);
  PsClient unconnected(ClientOptions(), &transport_);
  uint64_t key = 1;
  float row[kDim];
  EXPECT_EQ(unconnected.Pull(&key, 1, row, nullptr).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace iak::ps
