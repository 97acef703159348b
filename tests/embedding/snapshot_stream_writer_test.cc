// SnapshotStreamWriter and the synthetic table: rows handed over in any
// order make the same snapshot (id, rows, checksums) as the in-memory writer;
// a key given twice is refused and leaves no manifest; a synthesised table
// holds exactly SyntheticRow(seed, i) under SyntheticKey(seed, i).
#include "embedding/snapshot_stream_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_tools.h"
#include "embedding/synthetic_table.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::embedding {
namespace {

using testing::ContentsOf;
using testing::RandomTable;
using testing::Table;
using testing::TempDir;

constexpr int kDim = 5;

SnapshotStreamOptions StreamOptionsOf(const SnapshotContents& contents) {
  SnapshotStreamOptions options = contents.options;
  options.overwrite = false;
  return options;
}

TEST(SnapshotStreamWriterTest, AnyRowOrderMakesTheSnapshotTheInMemoryWriterMakes) {
  TempDir tmp;
  const Table table = RandomTable(/*seed=*/5, /*num_keys=*/3000, kDim);
  for (RowDtype dtype : {RowDtype::kFloat32, RowDtype::kInt8}) {
    SnapshotContents contents = ContentsOf(table, kDim, 3);
    contents.options.dtype = dtype;
    const std::string reference = tmp.Sub(std::string("reference-") + RowDtypeName(dtype));
    ASSERT_TRUE(WriteModelDirectory(reference, contents).ok());
    StatusOr<proto::ModelManifest> expected = ReadManifest(reference);
    ASSERT_TRUE(expected.ok()) << expected.status();

    std::vector<uint64_t> keys;
    for (const auto& [key, row] : table) keys.push_back(key);
    std::shuffle(keys.begin(), keys.end(), std::mt19937_64(9));
    const std::string streamed = tmp.Sub(std::string("streamed-") + RowDtypeName(dtype));
    StatusOr<std::unique_ptr<SnapshotStreamWriter>> writer =
        SnapshotStreamWriter::Open(streamed, StreamOptionsOf(contents));
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (uint64_t key : keys) ASSERT_TRUE((*writer)->Add(key, table.at(key).data()).ok());
    EXPECT_EQ((*writer)->rows_added(), table.size());
    StatusOr<proto::ModelManifest> manifest = (*writer)->Finish();
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    EXPECT_EQ(manifest->snapshot_id(), expected->snapshot_id());
    ASSERT_EQ(manifest->shards_size(), 3);
    for (int s = 0; s < 3; ++s) {
      EXPECT_EQ(manifest->shards(s).num_rows(), expected->shards(s).num_rows());
      EXPECT_EQ(manifest->shards(s).checksum(), expected->shards(s).checksum());
    }
    StatusOr<SnapshotVerification> verified = VerifySnapshot(streamed);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_TRUE(verified->ok()) << verified->FirstError();
  }
}

TEST(SnapshotStreamWriterTest, AKeyGivenTwiceIsRefusedAndLeavesNoManifest) {
  TempDir tmp;
  const Table table = RandomTable(/*seed=*/6, /*num_keys=*/50, kDim);
  SnapshotContents contents = ContentsOf(table, kDim, 1);
  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  // In key order: refused at once, naming the key.
  {
    StatusOr<std::unique_ptr<SnapshotStreamWriter>> writer =
        SnapshotStreamWriter::Open(tmp.Sub("ordered"), StreamOptionsOf(contents));
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Add(keys[3], table.at(keys[3]).data()).ok());
    Status twice = (*writer)->Add(keys[3], table.at(keys[3]).data());
    EXPECT_EQ(twice.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(twice.message().find(std::to_string(keys[3])), std::string::npos) << twice;
  }
  // Out of order: counted at Finish.
  StatusOr<std::unique_ptr<SnapshotStreamWriter>> writer =
      SnapshotStreamWriter::Open(tmp.Sub("shuffled"), StreamOptionsOf(contents));
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (uint64_t key : {keys[7], keys[2], keys[7], keys[9]}) {
    ASSERT_TRUE((*writer)->Add(key, table.at(key).data()).ok());
  }
  StatusOr<proto::ModelManifest> finished = (*writer)->Finish();
  EXPECT_EQ(finished.status().code(), StatusCode::kInvalidArgument) << finished.status();
  EXPECT_NE(finished.status().message().find("more than once"), std::string::npos)
      << finished.status();
  EXPECT_FALSE(ReadManifest(tmp.Sub("shuffled")).ok());
  EXPECT_FALSE(ReadManifest(tmp.Sub("ordered")).ok());
}

TEST(SnapshotStreamWriterTest, AnExistingModelIsKeptUnlessOverwriteIsAllowed) {
  TempDir tmp;
  const Table table = RandomTable(/*seed=*/7, /*num_keys=*/20, kDim);
  ASSERT_TRUE(WriteModelDirectory(tmp.Sub("m"), ContentsOf(table, kDim, 1)).ok());
  SnapshotStreamOptions options = StreamOptionsOf(ContentsOf(table, kDim, 1));
  EXPECT_EQ(SnapshotStreamWriter::Open(tmp.Sub("m"), options).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(ReadManifest(tmp.Sub("m")).ok());
  options.overwrite = true;
  EXPECT_TRUE(SnapshotStreamWriter::Open(tmp.Sub("m"), options).ok());
  options.num_shards = 0;
  EXPECT_EQ(SnapshotStreamWriter::Open(tmp.Sub("n"), options).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SyntheticTableTest, ASynthesisedSnapshotHoldsTheSeedsRows) {
  TempDir tmp;
  SyntheticSnapshotOptions options;
  options.out_dir = tmp.Sub("synth");
  options.rows = 5000;
  options.dim = 4;
  options.num_shards = 2;
  options.seed = 3;
  uint64_t last_progress = 0;
  options.progress = [&](uint64_t rows) { last_progress = rows; };
  options.progress_every = 1000;
  StatusOr<proto::ModelManifest> manifest = SynthesizeSnapshot(options);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(last_progress, 5000u);
  StatusOr<ModelDirectory> model = LoadModelDirectory(options.out_dir);
  ASSERT_TRUE(model.ok()) << model.status();
  StatusOr<std::unique_ptr<LocalEmbeddingTable>> table = LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)->num_rows(), 5000u);
  std::vector<float> expected(4);
  for (uint64_t i = 0; i < options.rows; ++i) {
    const float* row = (*table)->Find(SyntheticKey(3, i));
    ASSERT_NE(row, nullptr) << "row " << i;
    SyntheticRow(3, i, 4, expected.data());
    for (int j = 0; j < 4; ++j) {
      ASSERT_EQ(row[j], expected[j]) << "row " << i;
      ASSERT_GE(row[j], -1.0f);
      ASSERT_LT(row[j], 1.0f);
    }
  }
  // The seed decides the table (and so the id); the same seed, the same id.
  SyntheticSnapshotOptions again = options;
  again.out_dir = tmp.Sub("again");
  again.progress = nullptr;
  EXPECT_EQ(SynthesizeSnapshot(again)->snapshot_id(), manifest->snapshot_id());
  again.out_dir = tmp.Sub("other");
  again.seed = 4;
  EXPECT_NE(SynthesizeSnapshot(again)->snapshot_id(), manifest->snapshot_id());
  again.rows = 0;
  EXPECT_EQ(SynthesizeSnapshot(again).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace iak::embedding
