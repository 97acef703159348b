// A PS whose shard is over its memory budget serves it from RocksDB: a
// client pulls the same rows from it as from an in-memory PS of the same
// snapshot. And a PS refuses a client that expects another snapshot id, here
// one of the same rows imported with another dtype.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "embedding/manifest_io.h"
#include "net/inproc_transport.h"
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

constexpr int kDim = 6;

class PsBudgetTest : public ::testing::Test {
 protected:
  void TearDown() override {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
  }

  std::string Write(const std::string& name, embedding::RowDtype dtype) {
    embedding::SnapshotContents contents = ContentsOf(table_, kDim, 1);
    contents.options.dtype = dtype;
    const std::string dir = tmp_.Sub(name);
    Status written = embedding::WriteModelDirectory(dir, contents);
    EXPECT_TRUE(written.ok()) << written;
    return dir;
  }

  PsServer* Start(const std::string& dir, const std::string& address, uint64_t budget) {
    PsServerOptions options;
    options.model_dir = dir;
    options.listen_address = address;
    options.name = address.substr(9);
    options.memory_budget_bytes = budget;
    options.block_cache_bytes = 1 << 20;
    servers_.push_back(std::make_unique<PsServer>(options, &transport_));
    PsServer* server = servers_.back().get();
    Status started = server->Start();
    EXPECT_TRUE(started.ok()) << started;
    threads_.emplace_back([this, server] {
      Status ran = server->Run(stop_);
      EXPECT_TRUE(ran.ok()) << ran;
    });
    return server;
  }

  Status PullFrom(PsServer* server, const std::string& expected_id,
                  const std::vector<uint64_t>& keys, std::vector<float>* rows) {
    PsClientOptions options;
    proto::ServerAddress address;
    address.set_shard(0);
    address.set_address(server->address());
    address.set_name("ps");
    options.servers.push_back(address);
    options.snapshot_id = expected_id;
    options.dim = kDim;
    options.pull_timeout = Duration(5000);
    options.max_attempts = 1;
    options.name = "worker-0";
    clients_.push_back(std::make_unique<PsClient>(options, &transport_));
    IAK_RETURN_IF_ERROR(clients_.back()->Connect());
    rows->assign(keys.size() * kDim, -1.0f);
    return clients_.back()->Pull(keys.data(), keys.size(), rows->data(), nullptr);
  }

  TempDir tmp_;
  Table table_ = RandomTable(/*seed=*/17, /*num_keys=*/2000, kDim);
  net::InProcTransport transport_;
  std::vector<std::unique_ptr<PsServer>> servers_;
  std::vector<std::unique_ptr<PsClient>> clients_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

TEST_F(PsBudgetTest, OverBudgetServerPullsTheSameRowsAsInMemory) {
  const std::string dir = Write("fp16", embedding::RowDtype::kFloat16);
  PsServer* memory = Start(dir, "inproc://ps-mem", 0);
  PsServer* disk = Start(dir, "inproc://ps-disk", /*budget=*/4096);
  EXPECT_EQ(memory->snapshot_id(), disk->snapshot_id());

  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table_) keys.push_back(key);
  const std::vector<uint64_t> absent = AbsentKeys(table_, 2, 40);
  keys.insert(keys.begin() + 100, absent.begin(), absent.end());
  std::vector<float> from_memory, from_disk;
  Status a = PullFrom(memory, memory->snapshot_id(), keys, &from_memory);
  Status b = PullFrom(disk, memory->snapshot_id(), keys, &from_disk);
  ASSERT_TRUE(a.ok()) << a;
  ASSERT_TRUE(b.ok()) << b;
  EXPECT_EQ(std::memcmp(from_memory.data(), from_disk.data(), from_disk.size() * sizeof(float)),
            0);
  for (size_t i = 100; i < 140; ++i) EXPECT_EQ(from_disk[i * kDim], 0.0f) << "absent key";
  EXPECT_EQ(disk->keys_served(), keys.size());
}

TEST_F(PsBudgetTest, ImportedSnapshotOfAnotherDtypeIsRefusedById) {
  const std::string f32 = Write("f32", embedding::RowDtype::kFloat32);
  const std::string int8 = Write("int8", embedding::RowDtype::kInt8);
  const std::string f32_id = embedding::ReadManifest(f32)->snapshot_id();
  PsServer* server = Start(int8, "inproc://ps-int8", 0);
  ASSERT_NE(server->snapshot_id(), f32_id);
  std::vector<float> rows;
  Status pulled = PullFrom(server, f32_id, {table_.begin()->first}, &rows);
  ASSERT_EQ(pulled.code(), StatusCode::kFailedPrecondition) << pulled;
  EXPECT_NE(pulled.message().find(f32_id), std::string::npos) << pulled;
  EXPECT_NE(pulled.message().find(server->snapshot_id()), std::string::npos) << pulled;
  EXPECT_TRUE(PullFrom(server, server->snapshot_id(), {table_.begin()->first}, &rows).ok());
}

}  // namespace
}  // namespace iak::ps
