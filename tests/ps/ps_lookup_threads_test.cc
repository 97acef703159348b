// A pull large enough to be split over the server's lookup threads returns
// the same rows, zero rows for absent keys and the same missing count as the
// server's thread alone, from memory and from RocksDB (a shard over its
// memory budget); small pulls and every dtype go through the same.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/inproc_transport.h"
#include "ps/ps_client.h"
#include "ps/ps_server.h"
#include "tests/embedding/test_model_dir.h"
#include "tests/testing/ps_server_thread.h"

namespace iak::ps {
namespace {

using embedding::testing::AbsentKeys;
using embedding::testing::ContentsOf;
using embedding::testing::RandomTable;
using embedding::testing::Table;
using embedding::testing::TempDir;

constexpr int kDim = 5;  // rows of 20 bytes (float32): not a cache line apart

class PsLookupThreadsTest : public ::testing::TestWithParam<embedding::RowDtype> {
 protected:
  // Serves the table as `dtype` with `lookup_threads`, from RocksDB when
  // `from_disk`; returns the server's address.
  proto::ServerAddress Serve(int lookup_threads, bool from_disk = false) {
    if (model_dir_.empty()) {
      embedding::SnapshotContents contents = ContentsOf(table_, kDim, 1);
      contents.options.dtype = GetParam();
      model_dir_ = tmp_.Sub("model");
      Status written = embedding::WriteModelDirectory(model_dir_, contents);
      EXPECT_TRUE(written.ok()) << written;
    }
    PsServerOptions options;
    options.model_dir = model_dir_;
    options.name = "ps-" + std::to_string(lookup_threads) + (from_disk ? "-disk" : "-memory");
    options.listen_address = "inproc://" + options.name;
    options.lookup_threads = lookup_threads;
    if (from_disk) {
      options.memory_budget_bytes = 4096;
      options.block_cache_bytes = 1 << 20;
    }
    servers_.push_back(std::make_unique<testing_util::PsServerThread>());
    Status started = servers_.back()->Start(options, &transport_);
    EXPECT_TRUE(started.ok()) << started;
    return servers_.back()->address();
  }

  std::vector<float> Pull(const proto::ServerAddress& server, const std::vector<uint64_t>& keys,
                          uint64_t* missing) {
    PsClientOptions options;
    options.servers.push_back(server);
    options.dim = kDim;
    options.pull_timeout = Duration(10000);
    options.max_attempts = 1;
    options.name = "worker-0";
    PsClient client(options, &transport_);
    std::vector<float> rows(keys.size() * kDim, -1.0f);
    Status connected = client.Connect();
    EXPECT_TRUE(connected.ok()) << connected;
    PullStats stats;
    Status pulled = client.Pull(keys.data(), keys.size(), rows.data(), &stats);
    EXPECT_TRUE(pulled.ok()) << pulled;
    *missing = stats.missing;
    return rows;
  }

  TempDir tmp_;
  Table table_ = RandomTable(/*seed=*/23, /*num_keys=*/3 * kMinKeysPerLookupThread + 17, kDim);
  std::string model_dir_;
  net::InProcTransport transport_;
  std::vector<std::unique_ptr<testing_util::PsServerThread>> servers_;
};

TEST_P(PsLookupThreadsTest, SplitPullsReturnWhatOneThreadReturns) {
  const proto::ServerAddress one = Serve(1);
  const proto::ServerAddress three = Serve(3);
  const proto::ServerAddress three_from_disk = Serve(3, /*from_disk=*/true);
  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table_) keys.push_back(key);
  // Absent keys in every part of a three-way split, and at its edges.
  const std::vector<uint64_t> absent = AbsentKeys(table_, 5, 30);
  for (size_t i = 0; i < absent.size(); ++i) {
    keys.insert(keys.begin() + (i * keys.size()) / absent.size(), absent[i]);
  }
  ASSERT_GE(keys.size(), 3 * kMinKeysPerLookupThread);
  for (size_t n : {keys.size(), 2 * kMinKeysPerLookupThread + 1, size_t{100}}) {
    const std::vector<uint64_t> pull(keys.begin(), keys.begin() + n);
    uint64_t missing_one = 0, missing_three = 0;
    const std::vector<float> from_one = Pull(one, pull, &missing_one);
    const std::vector<float> from_three = Pull(three, pull, &missing_three);
    uint64_t missing_disk = 0;
    const std::vector<float> from_disk = Pull(three_from_disk, pull, &missing_disk);
    ASSERT_EQ(from_one.size(), from_three.size());
    ASSERT_EQ(from_one.size(), from_disk.size());
    EXPECT_EQ(0, std::memcmp(from_one.data(), from_three.data(), from_one.size() * sizeof(float)))
        << n << " keys";
    EXPECT_EQ(0, std::memcmp(from_one.data(), from_disk.data(), from_one.size() * sizeof(float)))
        << n << " keys from RocksDB";
    EXPECT_EQ(missing_one, missing_three) << n << " keys";
    EXPECT_EQ(missing_one, missing_disk) << n << " keys from RocksDB";
    uint64_t zero_rows = 0;
    for (size_t i = 0; i < n; ++i) {
      bool zero = true;
      for (int d = 0; d < kDim; ++d) zero = zero && from_three[i * kDim + d] == 0.0f;
      zero_rows += zero ? 1 : 0;
    }
    EXPECT_EQ(zero_rows, missing_three) << n << " keys";
  }
  uint64_t missing = 0;
  Pull(three, keys, &missing);
  EXPECT_EQ(missing, absent.size());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, PsLookupThreadsTest,
                         ::testing::Values(embedding::RowDtype::kFloat32,
                                           embedding::RowDtype::kFloat16,
                                           embedding::RowDtype::kInt8));

}  // namespace
}  // namespace iak::ps
