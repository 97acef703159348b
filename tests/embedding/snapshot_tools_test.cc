// `iak snapshot verify` and `reshard`, and shards served from RocksDB when
// over their memory budget: damage found and named, every row kept, ids that
// change with the layout and only with it, and the same rows from disk as
// from memory.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/keys.h"
#include "embedding/embedding_shard.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_format.h"
#include "embedding/snapshot_tools.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::embedding {
namespace {

using testing::ContentsOf;
using testing::RandomTable;
using testing::Table;
using testing::TempDir;

constexpr int kDim = 4;

// Flips one byte in the middle of the first SST file of `shard_dir`.
void DamageShard(const std::string& shard_dir) {
  for (const auto& entry : std::filesystem::directory_iterator(shard_dir)) {
    if (entry.path().extension() != ".sst") continue;
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff at = static_cast<std::streamoff>(entry.file_size() / 3);
    file.seekg(at);
    char byte = 0;
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x5a);
    file.seekp(at);
    file.write(&byte, 1);
    ASSERT_TRUE(file.good());
    return;
  }
  FAIL() << "no .sst file in " << shard_dir;
}

class SnapshotToolsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, int shards, RowDtype dtype = RowDtype::kFloat32) {
    SnapshotContents contents = ContentsOf(table_, kDim, shards);
    contents.options.dtype = dtype;
    const std::string dir = tmp_.Sub(name);
    Status written = WriteModelDirectory(dir, contents);
    EXPECT_TRUE(written.ok()) << written;
    return dir;
  }
  std::string IdOf(const std::string& dir) { return ReadManifest(dir)->snapshot_id(); }

  TempDir tmp_;
  Table table_ = RandomTable(/*seed=*/21, /*num_keys=*/600, kDim);
};

TEST_F(SnapshotToolsTest, VerifyPassesAHealthySnapshotAndNamesADamagedShard) {
  const std::string dir = Write("m", 3);
  StatusOr<SnapshotVerification> healthy = VerifySnapshot(dir);
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_TRUE(healthy->ok()) << healthy->FirstError();
  ASSERT_EQ(healthy->shards.size(), 3u);
  uint64_t rows = 0;
  for (const ShardVerification& s : healthy->shards) rows += s.rows_read;
  EXPECT_EQ(rows, table_.size());

  DamageShard(JoinPath(dir, ShardDirName(1, 3)));
  StatusOr<SnapshotVerification> damaged = VerifySnapshot(dir);
  ASSERT_TRUE(damaged.ok()) << damaged.status();
  EXPECT_FALSE(damaged->ok());
  EXPECT_TRUE(damaged->shards[0].status.ok());
  EXPECT_TRUE(damaged->shards[2].status.ok()) << "other shards are still checked";
  EXPECT_EQ(damaged->shards[1].status.code(), StatusCode::kDataLoss) << damaged->shards[1].status;
  EXPECT_NE(damaged->FirstError().message().find(ShardDirName(1, 3)), std::string::npos)
      << damaged->FirstError();
  // Loading it for serving is refused the same way, in memory or from disk.
  EXPECT_EQ(EmbeddingShard::Open(dir, *ReadManifest(dir), 1).status().code(),
            StatusCode::kDataLoss);
  EmbeddingShard::LoadOptions budget;
  budget.memory_budget_bytes = 1;
  EXPECT_EQ(EmbeddingShard::Open(dir, *ReadManifest(dir), 1, budget).status().code(),
            StatusCode::kDataLoss);
  // Resharding refuses a damaged input rather than dropping rows.
  EXPECT_EQ(ReshardSnapshot(dir, tmp_.Sub("r"), 2, false).status().code(), StatusCode::kDataLoss);
}

TEST_F(SnapshotToolsTest, VerifyCatchesMissingAndTamperedShards) {
  const std::string dir = Write("m", 2);
  // A manifest edited to claim another row count.
  proto::ModelManifest manifest = *ReadManifest(dir);
  manifest.mutable_shards(0)->set_num_rows(manifest.shards(0).num_rows() + 1);
  ASSERT_TRUE(WriteManifest(dir, manifest).ok());
  StatusOr<SnapshotVerification> result = VerifySnapshot(dir);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->shards[0].status.code(), StatusCode::kDataLoss);
  EXPECT_NE(result->shards[0].status.message().find("rows but the manifest says"),
            std::string::npos)
      << result->shards[0].status;
  std::filesystem::remove_all(JoinPath(dir, ShardDirName(1, 2)));
  result = VerifySnapshot(dir);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->shards[1].status.code(), StatusCode::kNotFound);
}

TEST_F(SnapshotToolsTest, ReshardKeepsEveryRowAndTheIdFollowsTheLayout) {
  for (RowDtype dtype : {RowDtype::kFloat32, RowDtype::kInt8}) {
    const std::string name = RowDtypeName(dtype);
    const std::string two = Write(name + "-2", 2, dtype);
    StatusOr<proto::ModelManifest> three =
        ReshardSnapshot(two, tmp_.Sub(name + "-3"), 3, /*overwrite=*/false);
    ASSERT_TRUE(three.ok()) << three.status();
    EXPECT_EQ(three->num_shards(), 3);
    EXPECT_EQ(three->row_dtype(), name);
    EXPECT_EQ(three->num_tasks(), 2) << "the model description is kept";
    EXPECT_NE(three->snapshot_id(), IdOf(two)) << "another shard layout is another snapshot";
    EXPECT_EQ(LoadModelDirectory(tmp_.Sub(name + "-3"))->dense_blob,
              LoadModelDirectory(two)->dense_blob);

    // Every row, byte for byte (quantised rows are not re-quantised).
    StatusOr<ModelDirectory> a = LoadModelDirectory(two);
    StatusOr<ModelDirectory> b = LoadModelDirectory(tmp_.Sub(name + "-3"));
    StatusOr<std::unique_ptr<LocalEmbeddingTable>> ta = LocalEmbeddingTable::Open(*a);
    StatusOr<std::unique_ptr<LocalEmbeddingTable>> tb = LocalEmbeddingTable::Open(*b);
    ASSERT_TRUE(ta.ok() && tb.ok());
    ASSERT_EQ((*tb)->num_rows(), table_.size());
    for (const auto& [key, row] : table_) {
      const float* ra = (*ta)->Find(key);
      const float* rb = (*tb)->Find(key);
      ASSERT_TRUE(ra != nullptr && rb != nullptr) << key;
      ASSERT_EQ(std::memcmp(ra, rb, kDim * sizeof(float)), 0) << key;
      if (dtype == RowDtype::kFloat32) {
        ASSERT_EQ(std::memcmp(ra, row.data(), kDim * 4), 0);
      }
    }
    // Back to two shards: the very same snapshot (same id) as the original.
    StatusOr<proto::ModelManifest> back =
        ReshardSnapshot(tmp_.Sub(name + "-3"), tmp_.Sub(name + "-2b"), 2, false);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->snapshot_id(), IdOf(two));
  }
  // The same layout written directly and by resharding agree too.
  EXPECT_EQ(IdOf(Write("direct-3", 3)), IdOf(tmp_.Sub("float32-3")));
  // Changing the dtype while resharding quantises the float32 rows exactly
  // as writing them as that dtype does; asking for the same dtype copies.
  for (RowDtype dtype : {RowDtype::kFloat16, RowDtype::kInt8}) {
    const std::string out = tmp_.Sub(std::string("to-") + RowDtypeName(dtype));
    StatusOr<proto::ModelManifest> quantised =
        ReshardSnapshot(tmp_.Sub("float32-2"), out, 3, false, dtype);
    ASSERT_TRUE(quantised.ok()) << quantised.status();
    EXPECT_EQ(quantised->row_dtype(), RowDtypeName(dtype));
    EXPECT_EQ(quantised->snapshot_id(),
              IdOf(Write(std::string("direct3-") + RowDtypeName(dtype), 3, dtype)));
  }
  EXPECT_EQ(ReshardSnapshot(tmp_.Sub("int8-2"), tmp_.Sub("same"), 2, false, RowDtype::kInt8)
                ->snapshot_id(),
            IdOf(tmp_.Sub("int8-2")));
  // Refused: writing over the input, a non-positive count, an existing model.
  EXPECT_EQ(ReshardSnapshot(tmp_.Sub("float32-2"), tmp_.Sub("float32-2"), 3, true).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ReshardSnapshot(tmp_.Sub("float32-2"), tmp_.Sub("x"), 0, false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ReshardSnapshot(tmp_.Sub("float32-2"), tmp_.Sub("float32-3"), 3, false)
                .status()
                .code(),
            StatusCode::kAlreadyExists);
}

TEST_F(SnapshotToolsTest, ShardOverItsBudgetServesTheSameRowsFromRocksDb) {
  for (RowDtype dtype : {RowDtype::kFloat32, RowDtype::kFloat16, RowDtype::kInt8}) {
    const std::string dir = Write(std::string("b-") + RowDtypeName(dtype), 2, dtype);
    const proto::ModelManifest manifest = *ReadManifest(dir);
    const size_t row_bytes = EncodedRowBytes(kDim, dtype);
    for (int s = 0; s < 2; ++s) {
      StatusOr<std::unique_ptr<EmbeddingShard>> memory = EmbeddingShard::Open(dir, manifest, s);
      ASSERT_TRUE(memory.ok()) << memory.status();
      EXPECT_TRUE((*memory)->in_memory());
      EmbeddingShard::LoadOptions options;
      // Just below what this shard needs in memory: served from disk.
      options.memory_budget_bytes =
          EmbeddingShard::InMemoryBytes(manifest.shards(s).num_rows(), row_bytes) - 1;
      options.block_cache_bytes = 1 << 20;
      StatusOr<std::unique_ptr<EmbeddingShard>> disk = EmbeddingShard::Open(dir, manifest, s, options);
      ASSERT_TRUE(disk.ok()) << disk.status();
      EXPECT_FALSE((*disk)->in_memory());
      EXPECT_EQ((*disk)->num_rows(), (*memory)->num_rows());
      // A budget that fits keeps it in memory.
      options.memory_budget_bytes += 1;
      EXPECT_TRUE((*EmbeddingShard::Open(dir, manifest, s, options))->in_memory());

      // All keys of the table (half of them absent from this shard), some
      // absent everywhere, repeats; batches over the MultiGet batch size.
      std::vector<uint64_t> keys;
      for (const auto& [key, row] : table_) keys.push_back(key);
      for (uint64_t key : testing::AbsentKeys(table_, 9, 50)) keys.push_back(key);
      for (int rep = 0; rep < 3; ++rep) keys.insert(keys.end(), keys.begin(), keys.begin() + 300);
      ASSERT_GT(keys.size(), 1024u);
      std::string from_memory(keys.size() * row_bytes, 'x');
      std::string from_disk(keys.size() * row_bytes, 'y');
      StatusOr<uint64_t> m = (*memory)->ReadRows(keys.data(), keys.size(), from_memory.data());
      StatusOr<uint64_t> d = (*disk)->ReadRows(keys.data(), keys.size(), from_disk.data());
      ASSERT_TRUE(m.ok() && d.ok()) << d.status();
      EXPECT_EQ(*m, *d);
      uint64_t absent = 0;
      for (uint64_t key : keys) absent += (*memory)->FindEncoded(key) == nullptr;
      EXPECT_GT(absent, 0u);
      EXPECT_EQ(*d, absent);
      EXPECT_TRUE(from_memory == from_disk) << "shard " << s << " " << RowDtypeName(dtype);
    }
  }
}

}  // namespace
}  // namespace iak::embedding
