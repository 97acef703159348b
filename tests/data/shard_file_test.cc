// Binary shards: round trip, worker split, and refusal of truncated,
// corrupted and foreign files.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "data/checksum.h"
#include "data/schema.h"
#include "data/shard_block.h"
#include "data/shard_file.h"
#include "data/shard_set.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

Dataset AliExpress() {
  StatusOr<CompiledSchema> schema = LoadSchema("examples/aliexpress.schema.pbtxt");
  EXPECT_TRUE(schema.ok()) << schema.status();
  StatusOr<Dataset> d = ReadTextFiles(*schema, {"datasets/samples/aliexpress_train_sample.csv"},
                                      TextReadOptions(), nullptr);
  EXPECT_TRUE(d.ok()) << d.status();
  return *d;
}

void ExpectSame(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.fields.size(), b.fields.size());
  for (size_t f = 0; f < a.fields.size(); ++f) {
    EXPECT_EQ(a.fields[f].name, b.fields[f].name);
    EXPECT_EQ(a.fields[f].multi_valued, b.fields[f].multi_valued);
  }
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.click, b.click);
  EXPECT_EQ(a.conversion, b.conversion);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.domain_names, b.domain_names);
}

TEST(ShardFileTest, ShardSetRoundTripsAndReportsDomainCounts) {
  const Dataset data = AliExpress();
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir() + "/set";
  options.num_shards = 3;
  options.domain_ordered = false;  // the input order, sample for sample
  StatusOr<proto::ShardSetManifest> manifest =
      WriteShardSet(data, proto::Schema(), {"train.csv"}, options);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->num_samples(), 100u);
  ASSERT_EQ(manifest->shards_size(), 3);
  EXPECT_EQ(manifest->shards(1).num_samples(), 33u);
  EXPECT_EQ(manifest->domain_counts(0), 60);
  EXPECT_EQ(manifest->domain_counts(1), 40);
  StatusOr<Dataset> back = ReadShardSet(options.dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(data, *back);
}

// A multi-valued field empty in every sample of a block (no key to code at
// all) round-trips; its decoding copied zero keys from a null pointer before.
TEST(ShardFileTest, ABlockWhoseMultiValuedFieldHoldsNoKeyRoundTrips) {
  Dataset data;
  data.fields = {{"item", false, Pooling::kSum}, {"tags", true, Pooling::kMean}};
  data.domain_names = {"d"};
  for (uint64_t s = 0; s < 5; ++s) {
    data.keys.push_back(100 + s);
    data.offsets.push_back(data.keys.size());
    data.offsets.push_back(data.keys.size());  // no tag
    data.click.push_back(static_cast<float>(s % 2));
    data.domain.push_back(0);
    data.timestamp.push_back(static_cast<int64_t>(s));
  }
  std::string block;
  EncodeShardBlock(data, 0, data.size(), &block);
  Dataset back;
  back.fields = data.fields;
  back.domain_names = data.domain_names;
  ASSERT_TRUE(DecodeShardBlock(block.data(), block.size(), data.size(), false, &back).ok());
  ExpectSame(data, back);
}

// A reader allocates a zstd block's inflated size only within this bound,
// so it must hold for anything the writer codes: few and many distinct
// keys, single- and multi-valued fields, empty cells, far-apart times.
TEST(ShardFileTest, EveryCodedBlockIsWithinItsSizeBound) {
  std::mt19937_64 rng(5);
  for (int shape = 0; shape < 4; ++shape) {
    Dataset data;
    data.fields = {{"one", false, Pooling::kSum}, {"tags", true, Pooling::kSum}};
    data.domain_names = {"a", "b", "c"};
    for (uint64_t s = 0; s < 300; ++s) {
      data.keys.push_back(shape % 2 == 0 ? rng() : rng() % 3);
      data.offsets.push_back(data.keys.size());
      for (uint64_t t = rng() % (shape < 2 ? 4 : 200); t > 0; --t) {
        data.keys.push_back(shape == 3 ? rng() % 2 : rng());
      }
      data.offsets.push_back(data.keys.size());
      data.click.push_back(static_cast<float>(rng() % 2));
      data.domain.push_back(static_cast<int32_t>(rng() % 3));
      data.timestamp.push_back(static_cast<int64_t>(rng() >> 1) * (s % 2 == 0 ? 1 : -1));
    }
    std::string block;
    EncodeShardBlock(data, 0, data.size(), &block);
    EXPECT_LE(block.size(), MaxShardBlockBytes(data.size(), 2, data.keys.size())) << shape;
    Dataset back;
    back.fields = data.fields;
    back.domain_names = data.domain_names;
    ASSERT_TRUE(DecodeShardBlock(block.data(), block.size(), data.size(), false, &back).ok());
    ExpectSame(data, back);
  }
  EXPECT_EQ(MaxShardBlockBytes(uint64_t{1} << 62, 3, 10), ~uint64_t{0});
  EXPECT_EQ(MaxShardBlockBytes(1, uint64_t{1} << 62, 10), ~uint64_t{0});
  EXPECT_EQ(MaxShardBlockBytes(1, 1, uint64_t{1} << 62), ~uint64_t{0});
}

TEST(ShardFileTest, WorkersReadDisjointShardsThatCoverTheSet) {
  const Dataset data = AliExpress();
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir();
  options.num_shards = 5;
  options.domain_ordered = false;
  ASSERT_TRUE(WriteShardSet(data, proto::Schema(), {}, options).ok());
  StatusOr<Dataset> r0 = ReadShardSet(options.dir + "/manifest.pbtxt", 0, 2);
  StatusOr<Dataset> r1 = ReadShardSet(options.dir + "/manifest.pbtxt", 1, 2);
  ASSERT_TRUE(r0.ok() && r1.ok());
  EXPECT_EQ(r0->size(), 60u);  // shards 0, 2, 4
  EXPECT_EQ(r1->size(), 40u);  // shards 1, 3
  EXPECT_EQ(r1->click[0], data.click[20]);
  EXPECT_EQ(r1->timestamp[0], data.timestamp[20]);
  // Rank 1 reads only its own files: removing rank 0's does not bother it.
  ASSERT_EQ(std::remove((options.dir + "/shard-00000-of-00005.iaks").c_str()), 0);
  EXPECT_TRUE(ReadShardSet(options.dir, 1, 2).ok());
  StatusOr<Dataset> missing = ReadShardSet(options.dir, 0, 2);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ReadShardSet(options.dir, 2, 2).ok());
}

class DamagedShardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    ShardSetWriteOptions options;
    options.dir = dir_;
    ASSERT_TRUE(WriteShardSet(AliExpress(), proto::Schema(), {}, options).ok());
    path_ = dir_ + "/shard-00000-of-00001.iaks";
    bytes_ = testing::ReadFile(path_);
  }
  Status OpenWith(const std::string& contents) {
    testing::WriteFile(path_, contents);
    StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path_);
    return shard.ok() ? Status::Ok() : shard.status();
  }
  std::string dir_, path_, bytes_;
};

TEST_F(DamagedShardTest, IntactShardOpens) {
  StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path_);
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ((*shard)->num_samples(), 100u);
  EXPECT_TRUE((*shard)->has_conversion());
}

TEST_F(DamagedShardTest, TruncatedShardIsRefused) {
  for (size_t keep : {bytes_.size() - 1, bytes_.size() / 2, size_t{70}, size_t{10}, size_t{0}}) {
    const Status status = OpenWith(bytes_.substr(0, keep));
    ASSERT_FALSE(status.ok()) << keep;
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find("truncated shard"), std::string::npos) << status;
    EXPECT_NE(status.message().find("iak data convert"), std::string::npos) << status;
  }
}

TEST_F(DamagedShardTest, FlippedBytesAnywhereAreRefused) {
  for (size_t at : {size_t{20}, size_t{64 + 3}, bytes_.size() / 2, bytes_.size() - 20,
                    bytes_.size() - 3}) {
    std::string bad = bytes_;
    bad[at] ^= 0x10;
    const Status status = OpenWith(bad);
    ASSERT_FALSE(status.ok()) << at;
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find("corrupted shard"), std::string::npos) << status;
  }
}

TEST_F(DamagedShardTest, ExtraBytesAndForeignFilesAreRefused) {
  EXPECT_EQ(OpenWith(bytes_ + "x").code(), StatusCode::kDataLoss);
  const Status not_shard = OpenWith("label,I1\n0,1\n" + std::string(100, 'x'));
  EXPECT_EQ(not_shard.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(not_shard.message().find("not an IAK shard"), std::string::npos);
}

TEST_F(DamagedShardTest, ShardFromAnotherSetDoesNotMatchTheManifest) {
  Dataset other = AliExpress();
  other.click[0] = 1.0f - other.click[0];
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir();
  ASSERT_TRUE(WriteShardSet(other, proto::Schema(), {}, options).ok());
  testing::WriteFile(path_, testing::ReadFile(options.dir + "/shard-00000-of-00001.iaks"));
  StatusOr<Dataset> d = ReadShardSet(dir_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("does not match its manifest"), std::string::npos);
}

// A header with a recomputed checksum whose counts overflow the layout
// arithmetic (2^61 samples of 0 fields) was mapped and read out of bounds.
TEST_F(DamagedShardTest, HeaderCountsThatOverflowTheLayoutAreRefused) {
  struct Case {
    uint32_t fields;
    uint64_t samples, keys;
  };
  for (const Case& c : {Case{0, uint64_t{1} << 61, 0}, Case{3, uint64_t{1} << 61, 0},
                        Case{1, 100, uint64_t{1} << 62}, Case{0xffffffffu, 1u << 30, 0},
                        Case{5, 100, ~uint64_t{0}}}) {
    std::string bad = bytes_;
    std::memcpy(&bad[12], &c.fields, 4);
    std::memcpy(&bad[16], &c.samples, 8);
    std::memcpy(&bad[24], &c.keys, 8);
    const uint64_t header_checksum = Checksum64(bad.data(), 56);
    std::memcpy(&bad[56], &header_checksum, 8);
    const Status status = OpenWith(bad);
    ASSERT_FALSE(status.ok()) << c.fields << " " << c.samples;
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find("iak data convert"), std::string::npos) << status;
  }
}

TEST(ChecksumTest, EveryByteMatters) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  const uint64_t base = Checksum64(data.data(), data.size());
  for (size_t i = 0; i < data.size(); i += 37) {
    std::string changed = data;
    changed[i] ^= 1;
    EXPECT_NE(Checksum64(changed.data(), changed.size()), base) << i;
  }
  EXPECT_NE(Checksum64(data.data(), data.size() - 1), base);
}

}  // namespace
}  // namespace iak::data
