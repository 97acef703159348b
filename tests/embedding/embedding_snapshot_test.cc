// Writing a model directory and reading it back: exact rows, shard
// assignment, and refusal of every kind of damaged or incomplete directory.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/resource.h>

#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>

#include "common/keys.h"
#include "embedding/embedding_shard.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/snapshot_format.h"
#include "embedding/snapshot_writer.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::embedding {
namespace {

using testing::AbsentKeys;
using testing::ContentsOf;
using testing::RandomTable;
using testing::Table;
using testing::TempDir;

constexpr int kDim = 8;
constexpr int kShards = 3;

class EmbeddingSnapshotTest : public ::testing::Test {
 protected:
  EmbeddingSnapshotTest() : table_(RandomTable(/*seed=*/42, /*num_keys=*/3000, kDim)) {}

  std::string WriteModel(int num_shards = kShards) {
    const std::string dir = tmp_.Sub("model");
    Status written = WriteModelDirectory(dir, ContentsOf(table_, kDim, num_shards));
    EXPECT_TRUE(written.ok()) << written;
    return dir;
  }

  // Opens shard `shard` of `dir` for writing, applies `edit`, closes it.
  static void EditShard(const std::string& dir, int shard,
                        const std::function<void(rocksdb::DB*)>& edit) {
    rocksdb::DB* db = nullptr;
    rocksdb::Options options;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir + "/" + ShardDirName(shard, kShards), &db).ok());
    edit(db);
    ASSERT_TRUE(db->Close().ok());
    delete db;
  }

  // Some key of the table that lives in `shard`.
  uint64_t KeyInShard(int shard) const {
    for (const auto& [key, row] : table_) {
      if (ShardOfKey(key, kShards) == shard) return key;
    }
    ADD_FAILURE() << "no key in shard " << shard;
    return 0;
  }

  TempDir tmp_;
  Table table_;
};

TEST_F(EmbeddingSnapshotTest, EveryRowReadsBackBitForBit) {
  const std::string dir = WriteModel();
  StatusOr<ModelDirectory> model = LoadModelDirectory(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const proto::ModelManifest& manifest = model->manifest;
  EXPECT_EQ(manifest.format(), "iak-model-v1");
  EXPECT_EQ(manifest.embedding_dim(), kDim);
  EXPECT_EQ(manifest.num_shards(), kShards);
  EXPECT_EQ(manifest.snapshot_id().size(), 16u);
  EXPECT_EQ(manifest.data_description(), "random test table");
  EXPECT_EQ(manifest.num_tasks(), 2);
  EXPECT_EQ(model->dense_blob, ContentsOf(table_, kDim, kShards).options.dense_blob);

  std::vector<size_t> expected_rows(kShards, 0);
  for (const auto& [key, row] : table_) ++expected_rows[ShardOfKey(key, kShards)];
  for (int s = 0; s < kShards; ++s) {
    StatusOr<std::unique_ptr<EmbeddingShard>> shard = EmbeddingShard::Open(dir, manifest, s);
    ASSERT_TRUE(shard.ok()) << shard.status();
    EXPECT_EQ((*shard)->dim(), kDim);
    EXPECT_EQ((*shard)->num_rows(), expected_rows[s]);
    EXPECT_EQ(manifest.shards(s).num_rows(), expected_rows[s]);
    for (const auto& [key, row] : table_) {
      const float* found = (*shard)->Find(key);
      if (ShardOfKey(key, kShards) == s) {
        ASSERT_NE(found, nullptr) << "key " << key << " shard " << s;
        EXPECT_EQ(std::memcmp(found, row.data(), kDim * sizeof(float)), 0) << "key " << key;
      } else {
        EXPECT_EQ(found, nullptr) << "key " << key << " is not in shard " << s;
      }
    }
    for (uint64_t key : AbsentKeys(table_, 7, 100)) EXPECT_EQ((*shard)->Find(key), nullptr);
  }

  StatusOr<std::unique_ptr<LocalEmbeddingTable>> local = LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->num_rows(), table_.size());
  for (const auto& [key, row] : table_) {
    const float* found = (*local)->Find(key);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(std::memcmp(found, row.data(), kDim * sizeof(float)), 0);
  }
}

TEST_F(EmbeddingSnapshotTest, LookupGivesZeroRowsForAbsentKeys) {
  const std::string dir = WriteModel();
  StatusOr<proto::ModelManifest> manifest = ReadManifest(dir);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  StatusOr<std::unique_ptr<EmbeddingShard>> shard = EmbeddingShard::Open(dir, *manifest, 1);
  ASSERT_TRUE(shard.ok()) << shard.status();

  std::vector<uint64_t> keys;
  for (const auto& [key, row] : table_) {
    if (ShardOfKey(key, kShards) == 1) keys.push_back(key);
  }
  const std::vector<uint64_t> absent = AbsentKeys(table_, 9, 50);
  keys.insert(keys.begin() + 3, absent.begin(), absent.end());
  keys.push_back(keys[0]);  // a repeated key
  std::vector<float> rows(keys.size() * kDim, -1.0f);
  EXPECT_EQ((*shard)->Lookup(keys.data(), keys.size(), rows.data()), absent.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = table_.find(keys[i]);
    const std::vector<float> expected =
        it == table_.end() ? std::vector<float>(kDim, 0.0f) : it->second;
    EXPECT_EQ(std::memcmp(&rows[i * kDim], expected.data(), kDim * sizeof(float)), 0) << i;
  }
}

TEST_F(EmbeddingSnapshotTest, SnapshotIdFollowsContent) {
  const std::string dir = WriteModel();
  ASSERT_TRUE(WriteModelDirectory(tmp_.Sub("same"), ContentsOf(table_, kDim, kShards)).ok());
  Table changed = table_;
  changed.begin()->second[3] += 1.0f;
  ASSERT_TRUE(WriteModelDirectory(tmp_.Sub("changed"), ContentsOf(changed, kDim, kShards)).ok());

  auto id_of = [](const std::string& d) { return ReadManifest(d)->snapshot_id(); };
  EXPECT_EQ(id_of(dir), id_of(tmp_.Sub("same")));
  EXPECT_NE(id_of(dir), id_of(tmp_.Sub("changed")));
}

TEST_F(EmbeddingSnapshotTest, RefusesToOverwriteUnlessAsked) {
  const std::string dir = WriteModel();
  Table smaller = RandomTable(/*seed=*/5, /*num_keys=*/10, kDim);
  SnapshotContents contents = ContentsOf(smaller, kDim, kShards);
  Status again = WriteModelDirectory(dir, contents);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again;
  EXPECT_NE(again.message().find(dir), std::string::npos) << again;

  contents.options.overwrite = true;
  ASSERT_TRUE(WriteModelDirectory(dir, contents).ok());
  StatusOr<ModelDirectory> model = LoadModelDirectory(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  StatusOr<std::unique_ptr<LocalEmbeddingTable>> local = LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->num_rows(), smaller.size());  // no stale rows survive
}

TEST_F(EmbeddingSnapshotTest, RejectsRowsOfTheWrongSize) {
  table_.begin()->second.pop_back();
  Status written = WriteModelDirectory(tmp_.Sub("model"), ContentsOf(table_, kDim, kShards));
  EXPECT_EQ(written.code(), StatusCode::kInvalidArgument) << written;
  EXPECT_FALSE(std::filesystem::exists(ManifestPath(tmp_.Sub("model"))));
}

TEST_F(EmbeddingSnapshotTest, DeletedRowIsDataLoss) {
  const std::string dir = WriteModel();
  const uint64_t key = KeyInShard(2);
  EditShard(dir, 2, [key](rocksdb::DB* db) {
    char k[8];
    EncodeShardKey(key, k);
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), rocksdb::Slice(k, 8)).ok());
  });
  StatusOr<proto::ModelManifest> manifest = ReadManifest(dir);
  ASSERT_TRUE(manifest.ok());
  StatusOr<std::unique_ptr<EmbeddingShard>> shard = EmbeddingShard::Open(dir, *manifest, 2);
  ASSERT_EQ(shard.status().code(), StatusCode::kDataLoss) << shard.status();
  EXPECT_NE(shard.status().message().find(ShardDirName(2, kShards)), std::string::npos);
  EXPECT_NE(shard.status().message().find("iak pretrain"), std::string::npos);
  EXPECT_NE(shard.status().message().find("rows"), std::string::npos) << shard.status();
  // The other shards are intact.
  EXPECT_TRUE(EmbeddingShard::Open(dir, *manifest, 0).ok());
}

TEST_F(EmbeddingSnapshotTest, OverwrittenRowIsDataLoss) {
  const std::string dir = WriteModel();
  const uint64_t key = KeyInShard(0);
  std::vector<float> row = table_.at(key);
  row[0] = -row[0] + 0.5f;
  EditShard(dir, 0, [&](rocksdb::DB* db) {
    char k[8];
    EncodeShardKey(key, k);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), rocksdb::Slice(k, 8),
                        rocksdb::Slice(reinterpret_cast<const char*>(row.data()),
                                       kDim * sizeof(float)))
                    .ok());
  });
  StatusOr<std::unique_ptr<EmbeddingShard>> shard =
      EmbeddingShard::Open(dir, *ReadManifest(dir), 0);
  ASSERT_EQ(shard.status().code(), StatusCode::kDataLoss) << shard.status();
  EXPECT_NE(shard.status().message().find("checksum"), std::string::npos) << shard.status();
}

TEST_F(EmbeddingSnapshotTest, RowOfTheWrongSizeIsDataLoss) {
  const std::string dir = WriteModel();
  const uint64_t key = KeyInShard(1);
  EditShard(dir, 1, [key](rocksdb::DB* db) {
    char k[8];
    EncodeShardKey(key, k);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), rocksdb::Slice(k, 8), "short").ok());
  });
  StatusOr<std::unique_ptr<EmbeddingShard>> shard =
      EmbeddingShard::Open(dir, *ReadManifest(dir), 1);
  ASSERT_EQ(shard.status().code(), StatusCode::kDataLoss) << shard.status();
  EXPECT_NE(shard.status().message().find("5 bytes"), std::string::npos) << shard.status();
}

TEST_F(EmbeddingSnapshotTest, MissingShardDirectoryIsNotFound) {
  const std::string dir = WriteModel();
  std::filesystem::remove_all(dir + "/" + ShardDirName(1, kShards));
  StatusOr<std::unique_ptr<EmbeddingShard>> shard =
      EmbeddingShard::Open(dir, *ReadManifest(dir), 1);
  ASSERT_EQ(shard.status().code(), StatusCode::kNotFound) << shard.status();
  EXPECT_NE(shard.status().message().find(ShardDirName(1, kShards)), std::string::npos);
  EXPECT_EQ(EmbeddingShard::Open(dir, *ReadManifest(dir), kShards).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(EmbeddingSnapshotTest, TruncatedDenseWeightsAreDataLoss) {
  const std::string dir = WriteModel();
  std::filesystem::resize_file(dir + "/dense.bin", 10);
  StatusOr<ModelDirectory> model = LoadModelDirectory(dir);
  ASSERT_EQ(model.status().code(), StatusCode::kDataLoss) << model.status();
  EXPECT_NE(model.status().message().find("dense.bin"), std::string::npos);

  std::filesystem::remove(dir + "/dense.bin");
  EXPECT_EQ(LoadModelDirectory(dir).status().code(), StatusCode::kDataLoss);
}

TEST_F(EmbeddingSnapshotTest, MissingManifestIsNotFound) {
  StatusOr<ModelDirectory> empty = LoadModelDirectory(tmp_.path());
  ASSERT_EQ(empty.status().code(), StatusCode::kNotFound) << empty.status();
  EXPECT_NE(empty.status().message().find("MANIFEST.pbtxt"), std::string::npos);

  // A directory whose write never finished has shards but no manifest.
  const std::string dir = WriteModel();
  std::filesystem::remove(ManifestPath(dir));
  EXPECT_EQ(LoadModelDirectory(dir).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadModelDirectory(tmp_.Sub("no-such-dir")).status().code(), StatusCode::kNotFound);
}

TEST_F(EmbeddingSnapshotTest, GarbageManifestNamesTheLine) {
  {
    std::ofstream out(ManifestPath(tmp_.path()));
    out << "format: \"iak-model-v1\"\nembedding_dim: 8\nthis is not a manifest\n";
  }
  StatusOr<proto::ModelManifest> manifest = ReadManifest(tmp_.path());
  ASSERT_EQ(manifest.status().code(), StatusCode::kInvalidArgument) << manifest.status();
  EXPECT_NE(manifest.status().message().find("MANIFEST.pbtxt:3:"), std::string::npos)
      << manifest.status();
}

TEST_F(EmbeddingSnapshotTest, InconsistentManifestIsInvalid) {
  const std::string dir = WriteModel();
  proto::ModelManifest manifest = *ReadManifest(dir);
  manifest.set_num_shards(kShards + 1);
  EXPECT_EQ(WriteManifest(dir, manifest).code(), StatusCode::kInvalidArgument);

  auto expect_invalid = [&dir](const proto::ModelManifest& m, const std::string& words) {
    Status valid = ValidateManifest(m, ManifestPath(dir));
    EXPECT_EQ(valid.code(), StatusCode::kInvalidArgument) << valid;
    EXPECT_NE(valid.message().find(words), std::string::npos) << valid;
  };
  expect_invalid(manifest, "num_shards");
  manifest = *ReadManifest(dir);
  manifest.set_embedding_dim(0);
  expect_invalid(manifest, "embedding_dim");
  manifest = *ReadManifest(dir);
  manifest.set_format("iak-model-v0");
  expect_invalid(manifest, "iak-model-v0");
}

// A manifest's sizes were trusted: embedding_dim 2e9 CHECK-failed in
// HugePageBuffer, num_rows 4e9 threw bad_alloc, num_rows 5e7 zeroed gigabytes
// for a shard of a thousand rows before the scan refused it.
TEST_F(EmbeddingSnapshotTest, ManifestSizesAreCheckedBeforeAnyAllocation) {
  const std::string dir = WriteModel();
  proto::ModelManifest manifest = *ReadManifest(dir);
  manifest.set_embedding_dim(2000000000);
  Status valid = ValidateManifest(manifest, ManifestPath(dir));
  EXPECT_EQ(valid.code(), StatusCode::kInvalidArgument) << valid;
  EXPECT_NE(valid.message().find("embedding_dim must be in [1, 65536]"), std::string::npos)
      << valid;
  manifest = *ReadManifest(dir);
  manifest.mutable_shards(1)->set_num_rows(uint64_t{1} << 40);
  valid = ValidateManifest(manifest, ManifestPath(dir));
  EXPECT_NE(valid.message().find("shard 1 claims"), std::string::npos) << valid;

  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  for (uint64_t claim : {uint64_t{4000000000}, uint64_t{50000000}}) {
    manifest = *ReadManifest(dir);
    manifest.mutable_shards(0)->set_num_rows(claim);
    ASSERT_TRUE(ValidateManifest(manifest, ManifestPath(dir)).ok());
    StatusOr<std::unique_ptr<EmbeddingShard>> shard = EmbeddingShard::Open(dir, manifest, 0);
    ASSERT_EQ(shard.status().code(), StatusCode::kDataLoss) << shard.status();
    EXPECT_NE(shard.status().message().find("manifest says " + std::to_string(claim)),
              std::string::npos)
        << shard.status();
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  // ru_maxrss is in KiB: the claims (>= 1.6 GB of rows) were never allocated.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 256 * 1024);
}

TEST(EmbeddingSnapshotHasherTest, DigestIgnoresHowInputIsSplit) {
  std::string bytes(1000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 + 7);
  SnapshotHasher whole;
  whole.Update(bytes.data(), bytes.size());
  for (size_t cut : {1u, 3u, 8u, 13u, 999u}) {
    SnapshotHasher split;
    split.Update(bytes.data(), cut);
    split.Update(bytes.data() + cut, bytes.size() - cut);
    EXPECT_EQ(split.Digest(), whole.Digest()) << cut;
  }
  SnapshotHasher shorter;
  shorter.Update(bytes.data(), bytes.size() - 1);
  EXPECT_NE(shorter.Digest(), whole.Digest());
  bytes[500] ^= 1;
  SnapshotHasher flipped;
  flipped.Update(bytes.data(), bytes.size());
  EXPECT_NE(flipped.Digest(), whole.Digest());
}

TEST(EmbeddingShardKeyTest, BigEndianKeysSortNumerically) {
  char a[8], b[8];
  EncodeShardKey(0x00000000000000ffULL, a);
  EncodeShardKey(0x0000000000000100ULL, b);
  EXPECT_LT(std::memcmp(a, b, 8), 0);
  EXPECT_EQ(DecodeShardKey(b), 0x100ULL);
  EXPECT_EQ(ShardDirName(0, 2), "shard-00000-of-00002");
}

}  // namespace
}  // namespace iak::embedding
