// PullMonitor's missing-key guard over a real parameter server: a table
// whose keys do not match the data (every lookup misses) used to train on
// zero rows and "succeed" at AUC 0.5 with nothing said; the pull now fails
// past JobSpec.max_missing_key_rate, and the counts reach the heartbeat.
#include "worker/row_source.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "net/inproc_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "tests/embedding/test_model_dir.h"
#include "tests/testing/ps_server_thread.h"

namespace iak::worker {
namespace {

using embedding::testing::AbsentKeys;
using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 4;

class MissingKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = RandomTable(/*seed=*/9, /*num_keys=*/300, kDim);
    model_dir_ = tmp_.Sub("model");
    ASSERT_TRUE(embedding::WriteModelDirectory(model_dir_, ContentsOf(table_, kDim, 1)).ok());
    ps::PsServerOptions options;
    options.model_dir = model_dir_;
    options.listen_address = "inproc://ps-0";
    options.name = "ps-0";
    ASSERT_TRUE(server_.Start(options, &transport_).ok());
  }
  void TearDown() override { server_.Close(); }

  std::unique_ptr<ps::PsClient> Client(int64_t cache_bytes = 0) {
    ps::PsClientOptions options;
    options.servers = {server_.address()};
    options.snapshot_id = server_.server()->snapshot_id();
    options.dim = kDim;
    options.name = "worker-0";
    options.cache_bytes = static_cast<uint64_t>(cache_bytes);
    auto client = std::make_unique<ps::PsClient>(options, &transport_);
    EXPECT_TRUE(client->Connect().ok());
    return client;
  }
  std::vector<uint64_t> PresentKeys(size_t n) const {
    std::vector<uint64_t> keys;
    for (const auto& [key, row] : table_) {
      if (keys.size() < n) keys.push_back(key);
    }
    return keys;
  }

  TempDir tmp_;
  Table table_;
  std::string model_dir_;
  net::InProcTransport transport_;
  testing_util::PsServerThread server_;
};

TEST_F(MissingKeyTest, KeysThatDoNotMatchTheTableFailThePullPastTheLimit) {
  std::unique_ptr<ps::PsClient> client = Client();
  PullMonitor monitor;
  proto::JobSpec spec;
  spec.set_max_missing_key_rate(0.9);
  spec.set_min_missing_key_lookups(150);
  monitor.SetMissingKeyLimit(spec);
  PsRowSource source(client.get(), &monitor);
  const std::vector<uint64_t> absent = AbsentKeys(table_, /*seed=*/1, 100);
  std::vector<float> rows(absent.size() * kDim);
  // 100 lookups: below min_missing_key_lookups, not judged yet.
  ASSERT_TRUE(source.Fetch(absent.data(), absent.size(), rows.data()).ok());
  EXPECT_EQ(monitor.keys_looked_up.load(), 100u);
  EXPECT_EQ(monitor.keys_missing.load(), 100u);
  Status second = source.Fetch(absent.data(), absent.size(), rows.data());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.message().find("100.00% of the 200 keys looked up (200) are absent"),
            std::string::npos)
      << second;
  EXPECT_NE(second.message().find("max_missing_key_rate"), std::string::npos) << second;
}

TEST_F(MissingKeyTest, MatchingKeysPassAndAFewMissingOnesAreCountedNotFatal) {
  std::unique_ptr<ps::PsClient> client = Client();
  PullMonitor monitor;
  monitor.SetMissingKeyLimit(0.5, 10);
  PsRowSource source(client.get(), &monitor);
  std::vector<uint64_t> keys = PresentKeys(180);
  const std::vector<uint64_t> absent = AbsentKeys(table_, /*seed=*/2, 20);
  keys.insert(keys.end(), absent.begin(), absent.end());
  std::vector<float> rows(keys.size() * kDim);
  ASSERT_TRUE(source.Fetch(keys.data(), keys.size(), rows.data()).ok());
  EXPECT_EQ(monitor.keys_looked_up.load(), 200u);
  EXPECT_EQ(monitor.keys_missing.load(), 20u);
  EXPECT_DOUBLE_EQ(monitor.missing_key_rate(), 0.1);
}

TEST_F(MissingKeyTest, RowCacheHitsAreNotCountedAgain) {
  std::unique_ptr<ps::PsClient> client = Client(/*cache_bytes=*/1 << 20);
  PullMonitor monitor;  // the default limit: not judged below 10000 lookups
  PsRowSource source(client.get(), &monitor);
  const std::vector<uint64_t> absent = AbsentKeys(table_, /*seed=*/3, 50);
  std::vector<float> rows(absent.size() * kDim);
  for (int pull = 0; pull < 3; ++pull) {
    ASSERT_TRUE(source.Fetch(absent.data(), absent.size(), rows.data()).ok());
  }
  EXPECT_EQ(monitor.keys_looked_up.load(), 50u);
  EXPECT_EQ(monitor.keys_missing.load(), 50u);
  EXPECT_EQ(client->keys_looked_up(), 50u);
  EXPECT_EQ(client->keys_missing(), 50u);
}

}  // namespace
}  // namespace iak::worker
