// The trained-snapshot files (embedding/trained_snapshot.h) on their own:
// shards written one by one, finalize refusing incomplete or inconsistent
// output, and updated dense weights.
#include <gtest/gtest.h>

#include <vector>

#include "common/file_util.h"
#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_tools.h"
#include "embedding/trained_snapshot.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::embedding {
namespace {

using testing::ContentsOf;
using testing::RandomTable;
using testing::Table;
using testing::TempDir;

constexpr int kDim = 4;

class TrainedSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = RandomTable(/*seed=*/21, /*num_keys=*/50, kDim);
    source_ = tmp_.Sub("source");
    ASSERT_TRUE(WriteModelDirectory(source_, ContentsOf(table_, kDim, 2)).ok());
    StatusOr<proto::ModelManifest> manifest = ReadManifest(source_);
    ASSERT_TRUE(manifest.ok());
    source_id_ = manifest->snapshot_id();
    out_ = tmp_.Sub("out");
  }

  // Shard `shard` of the source table with every value + `delta`.
  Status WriteShard(int shard, float delta, const std::string& source_id) {
    std::vector<uint64_t> keys;
    std::vector<float> values;
    for (const auto& [key, row] : table_) {
      if (ShardOfKey(key, 2) != shard) continue;
      keys.push_back(key);
      for (float v : row) values.push_back(v + delta);
    }
    proto::TrainedShardInfo info;
    info.mutable_shard()->set_index(shard);
    info.set_num_shards(2);
    info.set_embedding_dim(kDim);
    info.set_source_model_dir(source_);
    info.set_source_snapshot_id(source_id);
    info.set_optimizer("adagrad");
    return WriteTrainedShard(out_, info, keys, values);
  }

  TempDir tmp_;
  Table table_;
  std::string source_;
  std::string source_id_;
  std::string out_;
};

TEST_F(TrainedSnapshotTest, ShardsThenFinalizeGiveAVerifiedModelWithNewDense) {
  EXPECT_EQ(MissingTrainedShards(out_).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteShard(1, 0.5f, source_id_).ok());
  EXPECT_EQ(*MissingTrainedShards(out_), std::vector<int>{0});
  ASSERT_TRUE(WriteShard(0, 0.5f, source_id_).ok());
  EXPECT_TRUE(MissingTrainedShards(out_)->empty());
  FinalizeOptions options;
  options.dense_blob = std::string("updated dense");
  StatusOr<proto::ModelManifest> manifest = FinalizeTrainedSnapshot(out_, options);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_NE(manifest->snapshot_id(), source_id_);
  StatusOr<SnapshotVerification> verified = VerifySnapshot(out_);
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok()) << verified->FirstError();
  StatusOr<ModelDirectory> model = LoadModelDirectory(out_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->dense_blob, "updated dense");
  StatusOr<std::unique_ptr<LocalEmbeddingTable>> table = LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(table.ok());
  for (const auto& [key, row] : table_) {
    const float* got = (*table)->Find(key);
    ASSERT_NE(got, nullptr);
    for (int d = 0; d < kDim; ++d) EXPECT_EQ(got[d], row[d] + 0.5f);
  }
  // Once complete, the directory takes no more shards.
  EXPECT_EQ(WriteShard(0, 0.0f, source_id_).code(), StatusCode::kAlreadyExists);
}

TEST_F(TrainedSnapshotTest, FinalizeRefusesShardsOfDifferentSources) {
  ASSERT_TRUE(WriteShard(0, 0.0f, source_id_).ok());
  ASSERT_TRUE(WriteShard(1, 0.0f, "00000000deadbeef").ok());
  StatusOr<proto::ModelManifest> manifest = FinalizeTrainedSnapshot(out_);
  ASSERT_EQ(manifest.status().code(), StatusCode::kFailedPrecondition) << manifest.status();
  EXPECT_NE(manifest.status().message().find("00000000deadbeef"), std::string::npos);
  EXPECT_EQ(ReadManifest(out_).status().code(), StatusCode::kNotFound);
}

TEST_F(TrainedSnapshotTest, FinalizeRefusesAnotherBaseModel) {
  ASSERT_TRUE(WriteShard(0, 0.0f, source_id_).ok());
  ASSERT_TRUE(WriteShard(1, 0.0f, source_id_).ok());
  const Table other_table = RandomTable(/*seed=*/22, /*num_keys=*/10, kDim);
  const std::string other = tmp_.Sub("other");
  ASSERT_TRUE(WriteModelDirectory(other, ContentsOf(other_table, kDim, 2)).ok());
  FinalizeOptions options;
  options.source_model_dir = other;
  StatusOr<proto::ModelManifest> manifest = FinalizeTrainedSnapshot(out_, options);
  ASSERT_EQ(manifest.status().code(), StatusCode::kFailedPrecondition) << manifest.status();
  EXPECT_NE(manifest.status().message().find("--base_model"), std::string::npos);
}

TEST_F(TrainedSnapshotTest, AKeyOfAnotherShardOrAGarbledInfoFileIsRefused) {
  uint64_t foreign = 0;
  while (ShardOfKey(foreign, 2) != 1) ++foreign;
  proto::TrainedShardInfo info;
  info.mutable_shard()->set_index(0);
  info.set_num_shards(2);
  info.set_embedding_dim(kDim);
  Status written = WriteTrainedShard(out_, info, {foreign}, std::vector<float>(kDim, 1.0f));
  ASSERT_EQ(written.code(), StatusCode::kInvalidArgument) << written;
  EXPECT_NE(written.message().find("belongs to shard 1"), std::string::npos);

  ASSERT_TRUE(WriteShard(0, 0.0f, source_id_).ok());
  ASSERT_TRUE(WriteFileAtomically(TrainedShardInfoPath(out_, 1, 2), "shard { index: oops").ok());
  StatusOr<proto::ModelManifest> manifest = FinalizeTrainedSnapshot(out_);
  ASSERT_EQ(manifest.status().code(), StatusCode::kDataLoss) << manifest.status();
  EXPECT_NE(manifest.status().message().find("shard-00001-of-00002.trained.pbtxt"),
            std::string::npos);
}

// The shard count in a file's name sizes what finalize reads: a stray name
// with a huge count is refused by name instead of allocating for it.
TEST_F(TrainedSnapshotTest, AStrayInfoFileWithAHugeShardCountIsRefused) {
  ASSERT_TRUE(WriteShard(0, 0.0f, source_id_).ok());
  ASSERT_TRUE(WriteShard(1, 0.0f, source_id_).ok());
  const std::string stray = out_ + "/shard-0-of-999999999.trained.pbtxt";
  ASSERT_TRUE(WriteFileAtomically(stray, "").ok());
  StatusOr<proto::ModelManifest> manifest = FinalizeTrainedSnapshot(out_);
  ASSERT_EQ(manifest.status().code(), StatusCode::kFailedPrecondition) << manifest.status();
  EXPECT_NE(manifest.status().message().find(stray), std::string::npos) << manifest.status();
  EXPECT_NE(manifest.status().message().find("remove the stray file"), std::string::npos);
  StatusOr<std::vector<int>> missing = MissingTrainedShards(out_);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition) << missing.status();
}

}  // namespace
}  // namespace iak::embedding
