// Replicated parameter servers (threads over the in-process transport):
// reads spread over replicas, a killed replica is failed over without an
// error and with exact values (also when a pull is split into several
// requests in flight at once); quantised snapshots are served as stored and
// decoded by the client within their error bounds; the worker row cache
// gives the same rows as the servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>

#include "common/keys.h"
#include "embedding/row_codec.h"
#include "net/inproc_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "tests/embedding/test_model_dir.h"
#include "tests/testing/ps_server_thread.h"

namespace iak::ps {
namespace {

using embedding::RowDtype;
using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 8;

class PsReplicaTest : public ::testing::Test {
 protected:
  void Write(int num_shards, RowDtype dtype) {
    table_ = RandomTable(/*seed=*/5, /*num_keys=*/400, kDim);
    embedding::SnapshotContents contents = ContentsOf(table_, kDim, num_shards);
    contents.options.dtype = dtype;
    model_dir_ = tmp_.Sub("model");
    Status written = embedding::WriteModelDirectory(model_dir_, contents);
    ASSERT_TRUE(written.ok()) << written;
  }

  void StartServer(int shard, int replica) {
    auto t = std::make_unique<testing_util::PsServerThread>();
    PsServerOptions options;
    options.model_dir = model_dir_;
    options.shard = shard;
    options.replica = replica;
    options.listen_address =
        "inproc://ps-" + std::to_string(shard) + "-r" + std::to_string(replica);
    options.name = "ps-" + std::to_string(shard) + "-r" + std::to_string(replica);
    Status started = t->Start(options, &transport_);
    ASSERT_TRUE(started.ok()) << started;
    addresses_.push_back(t->address());
    servers_.push_back(std::move(t));
  }

  // Every server's Run() ended ok, the ones the test killed included.
  void TearDown() override {
    for (const auto& t : servers_) {
      t->Close();
      EXPECT_TRUE(t->ran().ok()) << t->ran();
    }
  }

  PsClientOptions ClientOptions() const {
    PsClientOptions options;
    options.servers = addresses_;
    options.snapshot_id = servers_[0]->server()->snapshot_id();
    options.dim = kDim;
    options.pull_timeout = Duration(300);
    options.max_attempts = 3;
    options.name = "worker-0";
    return options;
  }

  std::vector<uint64_t> SomeKeys(size_t n) const {
    std::vector<uint64_t> keys;
    for (const auto& [key, row] : table_) {
      keys.push_back(key);
      if (keys.size() == n) break;
    }
    return keys;
  }

  TempDir tmp_;
  Table table_;
  std::string model_dir_;
  net::InProcTransport transport_;
  std::vector<proto::ServerAddress> addresses_;
  std::vector<std::unique_ptr<testing_util::PsServerThread>> servers_;
};

TEST_F(PsReplicaTest, ReadsSpreadAndAKilledReplicaIsFailedOverWithExactValues) {
  Write(/*num_shards=*/2, RowDtype::kFloat32);
  for (int shard = 0; shard < 2; ++shard) {
    for (int replica = 0; replica < 2; ++replica) StartServer(shard, replica);
  }
  PsClient client(ClientOptions(), &transport_);
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<uint64_t> keys = SomeKeys(100);
  std::vector<float> rows(keys.size() * kDim);
  auto expect_exact = [&] {
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(std::vector<float>(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim),
                table_.at(keys[i]))
          << "key " << keys[i];
    }
  };
  for (int pull = 0; pull < 4; ++pull) {
    PullStats stats;
    ASSERT_TRUE(client.Pull(keys.data(), keys.size(), rows.data(), &stats).ok());
    expect_exact();
    EXPECT_EQ(stats.retries, 0);
  }
  // Rotation: every replica of every shard served some of the 4 pulls.
  for (const auto& t : servers_)
    EXPECT_EQ(t->server()->pulls_served(), 2u) << t->server()->address();

  servers_[0]->Close();  // shard 0, replica 0
  int retries = 0;
  for (int pull = 0; pull < 6; ++pull) {
    PullStats stats;
    Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), &stats);
    ASSERT_TRUE(pulled.ok()) << pulled;
    expect_exact();
    retries += stats.retries;
  }
  // One failover; afterwards the dead replica is skipped while it is marked down.
  EXPECT_EQ(retries, 1);
}

// A pull split into requests of keys_per_request keys: the same rows, in
// order, absent keys zero, one request per part of each shard's keys.
TEST_F(PsReplicaTest, SplitPullsGiveExactlyTheRowsOfOneRequestPerShard) {
  Write(/*num_shards=*/2, RowDtype::kFloat32);
  StartServer(0, 0);
  StartServer(1, 0);
  std::vector<uint64_t> keys = SomeKeys(100);
  const std::vector<uint64_t> absent = {1, 2, 3};
  for (uint64_t key : absent) ASSERT_EQ(table_.count(key), 0u);
  keys.insert(keys.begin() + 50, absent.begin(), absent.end());
  size_t per_shard[2] = {0, 0};
  for (uint64_t key : keys) ++per_shard[ShardOfKey(key, 2)];

  for (size_t keys_per_request : {size_t{0}, size_t{7}, size_t{1}, size_t{1000}}) {
    PsClientOptions options = ClientOptions();
    options.keys_per_request = keys_per_request;
    PsClient client(options, &transport_);
    ASSERT_TRUE(client.Connect().ok());
    std::vector<float> rows(keys.size() * kDim, -1.0f);
    PullStats stats;
    Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), &stats);
    ASSERT_TRUE(pulled.ok()) << pulled;
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::vector<float> got(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim);
      const auto it = table_.find(keys[i]);
      EXPECT_EQ(got, it == table_.end() ? std::vector<float>(kDim, 0.0f) : it->second)
          << "key " << keys[i] << " with " << keys_per_request << " keys per request";
    }
    EXPECT_EQ(stats.missing, absent.size());
    EXPECT_EQ(stats.retries, 0);
    const size_t per = keys_per_request == 0 ? keys.size() : keys_per_request;
    EXPECT_EQ(static_cast<size_t>(stats.requests),
              (per_shard[0] + per - 1) / per + (per_shard[1] + per - 1) / per)
        << keys_per_request << " keys per request";
  }
}

// Requests of one pull spread over the replicas; when one replica dies, the
// request that finds out fails over, and the others in flight on its
// connection are sent again: the pull still returns exact rows.
TEST_F(PsReplicaTest, SplitPullFailsOverEveryRequestOfADeadReplica) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, 0);
  StartServer(0, 1);
  PsClientOptions options = ClientOptions();
  options.keys_per_request = 10;
  PsClient client(options, &transport_);
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<uint64_t> keys = SomeKeys(100);
  std::vector<float> rows(keys.size() * kDim);
  PullStats stats;
  ASSERT_TRUE(client.Pull(keys.data(), keys.size(), rows.data(), &stats).ok());
  EXPECT_EQ(stats.requests, 10);
  EXPECT_EQ(servers_[0]->server()->pulls_served(), 5u);
  EXPECT_EQ(servers_[1]->server()->pulls_served(), 5u);

  servers_[0]->Close();
  std::fill(rows.begin(), rows.end(), -1.0f);
  Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), &stats);
  ASSERT_TRUE(pulled.ok()) << pulled;
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(std::vector<float>(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim),
              table_.at(keys[i]))
        << "key " << keys[i];
  }
  // The 5 requests sent to the dead replica, each sent again to the live one.
  EXPECT_EQ(stats.retries, 5);
  EXPECT_EQ(stats.requests, 15);
  EXPECT_EQ(servers_[1]->server()->pulls_served(), 15u);
}

TEST_F(PsReplicaTest, AllReplicasDeadIsUnavailableNamingThem) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, 0);
  StartServer(0, 1);
  PsClientOptions options = ClientOptions();
  options.pull_timeout = Duration(100);
  PsClient client(options, &transport_);
  ASSERT_TRUE(client.Connect().ok());
  servers_[0]->Close();
  servers_[1]->Close();
  const std::vector<uint64_t> keys = SomeKeys(10);
  std::vector<float> rows(keys.size() * kDim);
  Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), nullptr);
  ASSERT_EQ(pulled.code(), StatusCode::kUnavailable) << pulled;
  EXPECT_NE(pulled.message().find("inproc://ps-0-r1"), std::string::npos) << pulled;
}

TEST_F(PsReplicaTest, SameReplicaListedTwiceIsRefused) {
  Write(/*num_shards=*/1, RowDtype::kFloat32);
  StartServer(0, 0);
  PsClientOptions options = ClientOptions();
  options.servers.push_back(options.servers[0]);
  PsClient client(options, &transport_);
  Status connected = client.Connect();
  EXPECT_EQ(connected.code(), StatusCode::kInvalidArgument) << connected;
}

// Quantised snapshots: rows travel encoded, the client decodes them within
// the codec's bounds (fp16: relative 2^-11; int8: max|row| / 254).

class PsQuantisedTest : public PsReplicaTest,
                        public ::testing::WithParamInterface<RowDtype> {};

TEST_P(PsQuantisedTest, RowsAreDecodedWithinTheirErrorBound) {
  const RowDtype dtype = GetParam();
  Write(/*num_shards=*/2, dtype);
  StartServer(0, 0);
  StartServer(1, 0);
  PsClientOptions options = ClientOptions();
  options.cache_bytes = 1 << 20;
  options.keys_per_request = 64;  // several requests per shard, scattered
  PsClient client(options, &transport_);
  ASSERT_TRUE(client.Connect().ok());
  const std::vector<uint64_t> keys = SomeKeys(300);
  std::vector<float> rows(keys.size() * kDim);
  std::vector<float> again(keys.size() * kDim);
  PullStats stats;
  ASSERT_TRUE(client.Pull(keys.data(), keys.size(), rows.data(), &stats).ok());
  EXPECT_EQ(stats.cache_hits, 0u);
  const size_t row_bytes = embedding::EncodedRowBytes(kDim, dtype);
  EXPECT_EQ(stats.bytes, keys.size() * (8 + row_bytes));
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::vector<float>& want = table_.at(keys[i]);
    float max_abs = 0;
    for (float v : want) max_abs = std::max(max_abs, std::fabs(v));
    for (int d = 0; d < kDim; ++d) {
      const float got = rows[i * kDim + d];
      const float bound = dtype == RowDtype::kFloat16 ? std::fabs(want[d]) / 2048.0f + 6e-8f
                                                      : max_abs / 254.0f * 1.0001f;
      EXPECT_LE(std::fabs(got - want[d]), bound) << "key " << keys[i] << " dim " << d;
    }
  }
  // Second pull: every key from the cache, bit-identical to the first.
  ASSERT_TRUE(client.Pull(keys.data(), keys.size(), again.data(), &stats).ok());
  EXPECT_EQ(stats.cache_hits, keys.size());
  EXPECT_EQ(stats.requests, 0);
  EXPECT_EQ(again, rows);
  EXPECT_GT(stats.cache_hit_rate, 0.49);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, PsQuantisedTest,
                         ::testing::Values(RowDtype::kFloat16, RowDtype::kInt8),
                         [](const ::testing::TestParamInfo<RowDtype>& info) {
                           return std::string(embedding::RowDtypeName(info.param));
                         });

}  // namespace
}  // namespace iak::ps
