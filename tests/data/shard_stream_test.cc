// The compact shard format (version 2), the old one still read, the
// domain-ordered layout with its ranges, reading by id through the block
// cache, and the streamed visiting order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>

#include <zstd.h>

#include "data/checksum.h"
#include "data/dataset_append.h"
#include "data/global_cursor.h"
#include "data/schema.h"
#include "data/shard_file.h"
#include "data/shard_reader.h"
#include "data/shard_set.h"
#include "data/split.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

// Samples with a single-valued field of few values (dictionary coding), one
// of random hashes (raw keys), a multi-valued field with empty cells, two
// domains interleaved, timestamps out of order.
Dataset Mixed(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.fields = {{"few", false, Pooling::kSum}, {"hash", false, Pooling::kSum},
              {"tags", true, Pooling::kMean}};
  d.domain_names = {"a", "b"};
  for (size_t s = 0; s < n; ++s) {
    d.keys.push_back(1000 + rng() % 5);
    d.offsets.push_back(d.keys.size());
    d.keys.push_back(rng());
    d.offsets.push_back(d.keys.size());
    for (uint64_t t = rng() % 4; t > 0; --t) d.keys.push_back(rng() % 50);
    d.offsets.push_back(d.keys.size());
    d.click.push_back(static_cast<float>(rng() % 2));
    d.conversion.push_back(d.click.back() * static_cast<float>(rng() % 2));
    d.domain.push_back(static_cast<int32_t>(rng() % 3 == 0));
    d.timestamp.push_back(1600000000 + static_cast<int64_t>(rng() % 1000) - 500);
  }
  return d;
}

void ExpectSameSamples(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.click, b.click);
  EXPECT_EQ(a.conversion, b.conversion);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.timestamp, b.timestamp);
}

Dataset EmptyLike(const Dataset& d) {
  Dataset out;
  out.fields = d.fields;
  out.domain_names = d.domain_names;
  return out;
}

TEST(ShardFormatTest, CompactBlocksRoundTripWithAndWithoutZstd) {
  const Dataset data = Mixed(1000, 1);
  const std::string dir = testing::MakeTempDir();
  for (int level : {0, 3}) {
    ShardFileOptions options;
    options.block_samples = 96;  // several blocks, the last one short
    options.zstd_level = level;
    uint64_t checksum = 0;
    const std::string path = dir + "/z" + std::to_string(level) + ".iaks";
    ASSERT_TRUE(WriteShardFile(data, 0, data.size(), proto::ShardMeta(), path, &checksum, options)
                    .ok());
    StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path);
    ASSERT_TRUE(shard.ok()) << shard.status();
    EXPECT_EQ((*shard)->version(), 2u);
    EXPECT_EQ((*shard)->num_blocks(), 11u);
    EXPECT_EQ((*shard)->block_first_sample(10), 960u);
    EXPECT_EQ((*shard)->num_keys(), data.keys.size());
    EXPECT_EQ((*shard)->checksum(), checksum);
    Dataset back = EmptyLike(data);
    ASSERT_TRUE((*shard)->AppendTo(&back).ok());
    ExpectSameSamples(data, back);
  }
}

TEST(ShardFormatTest, SingleValuedFieldsCostNoOffsetsAndRepeatedKeysAreSmall) {
  // 26 single-valued fields of 100 values each: the old layout spends 436
  // bytes a sample; the compact one a byte or so per key.
  Dataset d;
  for (int f = 0; f < 26; ++f) d.fields.push_back({"C" + std::to_string(f), false, Pooling::kSum});
  d.domain_names = {"all"};
  std::mt19937_64 rng(3);
  const size_t n = 20000;
  for (size_t s = 0; s < n; ++s) {
    for (int f = 0; f < 26; ++f) {
      d.keys.push_back(rng() % 100 * 7919 + static_cast<uint64_t>(f));
      d.offsets.push_back(d.keys.size());
    }
    d.click.push_back(static_cast<float>(rng() % 2));
    d.domain.push_back(0);
    d.timestamp.push_back(static_cast<int64_t>(s));
  }
  const std::string dir = testing::MakeTempDir();
  uint64_t checksum;
  ShardFileOptions v1;
  v1.version = 1;
  ASSERT_TRUE(WriteShardFile(d, 0, n, proto::ShardMeta(), dir + "/v1.iaks", &checksum, v1).ok());
  ShardFileOptions v2;
  v2.zstd_level = 0;
  ASSERT_TRUE(WriteShardFile(d, 0, n, proto::ShardMeta(), dir + "/v2.iaks", &checksum, v2).ok());
  const double old_bytes = static_cast<double>(testing::ReadFile(dir + "/v1.iaks").size()) / n;
  const double new_bytes = static_cast<double>(testing::ReadFile(dir + "/v2.iaks").size()) / n;
  EXPECT_GT(old_bytes, 430);
  // 26 one-byte indices, a timestamp byte, the blocks' dictionaries.
  EXPECT_LT(new_bytes, 32) << "dictionary indices of one byte per key, no offsets";
}

TEST(ShardFormatTest, VersionOneShardsStillRead) {
  const Dataset data = Mixed(300, 2);
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir();
  options.num_shards = 2;
  options.domain_ordered = false;
  options.file.version = 1;
  ASSERT_TRUE(WriteShardSet(data, proto::Schema(), {}, options).ok());
  StatusOr<std::unique_ptr<MappedShard>> shard =
      MappedShard::Open(options.dir + "/shard-00000-of-00002.iaks");
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ((*shard)->version(), 1u);
  StatusOr<Dataset> back = ReadShardSet(options.dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameSamples(data, *back);
}

TEST(ShardFormatTest, AnUnknownVersionIsRefusedNamingTheShardAndTheFix) {
  const Dataset data = Mixed(10, 4);
  const std::string path = testing::MakeTempDir() + "/s.iaks";
  uint64_t checksum;
  ASSERT_TRUE(WriteShardFile(data, 0, data.size(), proto::ShardMeta(), path, &checksum).ok());
  std::string bytes = testing::ReadFile(path);
  const uint32_t version = 3;
  std::memcpy(&bytes[8], &version, 4);
  const uint64_t header = Checksum64(bytes.data(), 56);
  std::memcpy(&bytes[56], &header, 8);
  testing::WriteFile(path, bytes);
  StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path);
  ASSERT_FALSE(shard.ok());
  EXPECT_EQ(shard.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shard.status().message().find(path), std::string::npos) << shard.status();
  EXPECT_NE(shard.status().message().find("version 3"), std::string::npos);
  EXPECT_NE(shard.status().message().find("iak data convert"), std::string::npos);
}

TEST(ShardFormatTest, ACorruptBlockIsRefusedWhenReadUnverified) {
  const Dataset data = Mixed(500, 5);
  const std::string path = testing::MakeTempDir() + "/s.iaks";
  ShardFileOptions options;
  options.block_samples = 100;
  uint64_t checksum;
  ASSERT_TRUE(WriteShardFile(data, 0, data.size(), proto::ShardMeta(), path, &checksum, options)
                  .ok());
  std::string bytes = testing::ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x01;
  testing::WriteFile(path, bytes);
  StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path, /*verify=*/false);
  ASSERT_TRUE(shard.ok()) << shard.status();  // the index is intact
  Dataset back = EmptyLike(data);
  const Status read = (*shard)->AppendTo(&back);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.code(), StatusCode::kDataLoss);
  EXPECT_NE(read.message().find(path), std::string::npos) << read;
  EXPECT_NE(read.message().find("corrupted shard: block"), std::string::npos) << read;
}

// Byte positions in a shard file (docs/data.md has the tables).
uint32_t MetaBytes(const std::string& bytes) {
  uint32_t meta;
  std::memcpy(&meta, &bytes[32], 4);
  return meta;
}
size_t MetaEnd(const std::string& bytes) { return 64 + (MetaBytes(bytes) + 7) / 8 * 8; }
size_t Pad8(size_t n) { return (n + 7) / 8 * 8; }

template <typename T>
void Put(std::string* bytes, size_t at, T value) {
  std::memcpy(&(*bytes)[at], &value, sizeof(T));
}

// A version-1 shard set of `data` in one file; returns the file's path.
std::string WriteV1Set(const Dataset& data, const std::string& dir) {
  ShardSetWriteOptions options;
  options.dir = dir;
  options.file.version = 1;
  EXPECT_TRUE(WriteShardSet(data, proto::Schema(), {}, options).ok());
  return dir + "/shard-00000-of-00001.iaks";
}

// A version-1 shard is read by the streaming reader without its checksum
// (verify = false); its offsets, domains and labels used to be trusted
// then, and a corrupted offset made the reader copy out of bounds or insert
// 2^40 keys. Now every open checks them, naming the file and the entry.
TEST(ShardFormatTest, AVersionOneShardWithBadArraysIsRefusedWhenStreamed) {
  const Dataset data = Mixed(50, 10);
  const size_t n = data.size(), f = data.fields.size(), k = data.keys.size();
  struct Case {
    const char* what;
    std::function<void(std::string*)> corrupt;
  };
  const std::vector<Case> cases = {
      {"sample 0, field 1: its keys end at offset",
       [](std::string* b) { Put<uint64_t>(b, MetaEnd(*b) + 8, uint64_t{1} << 40); }},
      {"key offsets run from 0 to 1099511627776",
       [&](std::string* b) { Put<uint64_t>(b, MetaEnd(*b) + n * f * 8, uint64_t{1} << 40); }},
      {"sample 3 has domain id 7",
       [&](std::string* b) {
         Put<int32_t>(b, MetaEnd(*b) + (n * f + 1) * 8 + k * 8 + 2 * Pad8(n * 4) + 3 * 4, 7);
       }},
      {"sample 2 has a label other than 0 or 1",
       [&](std::string* b) { Put<float>(b, MetaEnd(*b) + (n * f + 1) * 8 + k * 8 + 2 * 4, 0.5f); }},
  };
  for (const Case& c : cases) {
    const std::string dir = testing::MakeTempDir();
    const std::string path = WriteV1Set(data, dir);
    std::string bytes = testing::ReadFile(path);
    c.corrupt(&bytes);
    testing::WriteFile(path, bytes);
    StatusOr<std::unique_ptr<ShardSampleReader>> reader = ShardSampleReader::Open(dir);
    ASSERT_TRUE(reader.ok()) << reader.status();
    Dataset got = EmptyLike(data);
    const uint64_t id = 0;
    for (const Status& status :
         {(*reader)->Gather(&id, 1, &got), MappedShard::Open(path, /*verify=*/false).status(),
          ReadShardSet(dir, 0, 1, /*verify=*/false).status()}) {
      ASSERT_FALSE(status.ok()) << c.what;
      EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
      EXPECT_NE(status.message().find(path), std::string::npos) << status;
      EXPECT_NE(status.message().find(c.what), std::string::npos) << status;
      EXPECT_NE(status.message().find("iak data convert"), std::string::npos) << status;
    }
    EXPECT_EQ(got.size(), 0u);
  }
}

// Recomputes the footer's checksum (of the metadata and the block index)
// after an edit of the index, as a crafted file would.
void ResealIndex(std::string* bytes) {
  uint64_t blocks;
  std::memcpy(&blocks, &(*bytes)[40], 8);
  const size_t footer = bytes->size() - 16;
  const size_t index = footer - blocks * 32;
  const uint64_t checksum = Checksum64(bytes->data() + index, blocks * 32,
                                       Checksum64(bytes->data() + 64, MetaBytes(*bytes)));
  Put(bytes, footer, checksum);
}

// `bytes` (a one-block v2 shard) with its block replaced by `stored`, a zstd
// frame the index says inflates to `coded` bytes; every checksum matching.
std::string WithBlock(const std::string& bytes, const std::string& stored, uint32_t coded) {
  const size_t meta_end = MetaEnd(bytes);
  std::string entry = bytes.substr(bytes.size() - 16 - 32, 32);
  Put<uint32_t>(&entry, 8, static_cast<uint32_t>(stored.size()));
  Put<uint32_t>(&entry, 12, coded);
  Put<uint64_t>(&entry, 24, Checksum64(stored.data(), stored.size()));
  std::string out = bytes.substr(0, meta_end) + stored + entry + std::string(16, '\0');
  std::memcpy(&out[out.size() - 8], "IAKSEND1", 8);
  Put<uint64_t>(&out, 48, out.size());
  Put<uint64_t>(&out, 56, Checksum64(out.data(), 56));
  ResealIndex(&out);
  return out;
}

// A zstd block's inflated size comes from the index: a crafted file saying
// 4 GiB made the reader zero-fill 4 GiB before zstd looked at the frame.
// Now the size must be the frame's own and within what the block's samples
// can code to, before anything is allocated.
TEST(ShardFormatTest, AZstdBlockWhoseSizeIsWrongOrUnboundedIsRefusedBeforeAllocating) {
  const Dataset data = Mixed(100, 11);
  const std::string path = testing::MakeTempDir() + "/s.iaks";
  ShardFileOptions options;
  options.block_samples = 100;  // one block
  uint64_t checksum;
  ASSERT_TRUE(WriteShardFile(data, 0, data.size(), proto::ShardMeta(), path, &checksum, options)
                  .ok());
  const std::string bytes = testing::ReadFile(path);
  const size_t entry = bytes.size() - 16 - 32;
  uint32_t stored, coded, flags;
  std::memcpy(&stored, &bytes[entry + 8], 4);
  std::memcpy(&coded, &bytes[entry + 12], 4);
  std::memcpy(&flags, &bytes[entry + 20], 4);
  ASSERT_EQ(flags, 1u) << "the block is zstd-compressed";
  const std::string frame = bytes.substr(MetaEnd(bytes), stored);
  // 4 MiB of zeros compress to a few hundred bytes: a frame that states its
  // size honestly, far more than 100 samples of 3 fields can code to.
  const std::string zeros(size_t{4} << 20, '\0');
  std::string bomb(ZSTD_compressBound(zeros.size()), '\0');
  bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 3));
  struct Case {
    std::string file, what;
  };
  const std::vector<Case> cases = {
      {WithBlock(bytes, frame, 0xfffffff0u),
       "the zstd frame holds " + std::to_string(coded) + " bytes, the index says 4294967280"},
      {WithBlock(bytes, frame, coded + 1),
       "the zstd frame holds " + std::to_string(coded) + " bytes, the index says " +
           std::to_string(coded + 1)},
      {WithBlock(bytes, frame + frame, coded), "not one zstd frame with its size"},
      {WithBlock(bytes, bomb, static_cast<uint32_t>(zeros.size())),
       "4194304 coded bytes, more than 100 samples of 3 fields"},
  };
  for (const Case& c : cases) {
    testing::WriteFile(path, c.file);
    StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path, /*verify=*/true);
    ASSERT_TRUE(shard.ok()) << shard.status();  // every checksum matches
    Dataset back = EmptyLike(data);
    const Status read = (*shard)->AppendTo(&back);
    ASSERT_FALSE(read.ok()) << c.what;
    EXPECT_EQ(read.code(), StatusCode::kDataLoss);
    EXPECT_NE(read.message().find(path), std::string::npos) << read;
    EXPECT_NE(read.message().find("corrupted shard: block 0: " + c.what), std::string::npos)
        << read;
    EXPECT_EQ(back.size(), 0u);
  }
  testing::WriteFile(path, WithBlock(bytes, frame, coded));  // the helper itself is faithful
  StatusOr<std::unique_ptr<MappedShard>> shard = MappedShard::Open(path);
  ASSERT_TRUE(shard.ok()) << shard.status();
  Dataset back = EmptyLike(data);
  ASSERT_TRUE((*shard)->AppendTo(&back).ok());
  ExpectSameSamples(data, back);
}

TEST(DomainOrderedSetTest, RangesCutTheSameSplitAsSplitByTime) {
  const Dataset data = Mixed(2000, 6);
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir();
  options.num_shards = 3;
  options.file.block_samples = 128;
  StatusOr<proto::ShardSetManifest> manifest = WriteShardSet(data, proto::Schema(), {}, options);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_TRUE(manifest->domain_ordered());
  const std::vector<uint64_t> first(manifest->domain_first_sample().begin(),
                                    manifest->domain_first_sample().end());
  const std::vector<uint64_t> count(manifest->domain_counts().begin(),
                                    manifest->domain_counts().end());
  const std::vector<DomainRanges> ranges = SplitDomainRanges(first, count, 0.7, 0.2);
  const std::vector<DomainSplit> splits = SplitByTime(data, 0.7, 0.2);
  StatusOr<std::unique_ptr<ShardSampleReader>> reader = ShardSampleReader::Open(options.dir);
  ASSERT_TRUE(reader.ok()) << reader.status();
  for (size_t d = 0; d < 2; ++d) {
    const std::pair<IdRange, const SampleIds*> parts[] = {
        {ranges[d].train, &splits[d].train},
        {ranges[d].validation, &splits[d].validation},
        {ranges[d].test, &splits[d].test}};
    for (const auto& [range, ids] : parts) {
      Dataset streamed = EmptyLike(data), expected = EmptyLike(data);
      ASSERT_TRUE((*reader)->GatherRange(range, &streamed).ok());
      for (uint32_t id : *ids) {
        const uint64_t at = id;
        AppendSampleIds(data, &at, 1, &expected);
      }
      ExpectSameSamples(expected, streamed);
    }
  }
}

TEST(ShardSampleReaderTest, GathersAnyIdsThroughASmallBlockCache) {
  const Dataset data = Mixed(3000, 7);
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir();
  options.num_shards = 4;
  options.domain_ordered = false;
  options.file.block_samples = 64;
  ASSERT_TRUE(WriteShardSet(data, proto::Schema(), {}, options).ok());
  ShardReaderOptions small;
  small.cache_bytes = 8 << 10;  // a block or two
  StatusOr<std::unique_ptr<ShardSampleReader>> reader =
      ShardSampleReader::Open(options.dir, small);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::mt19937_64 rng(8);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 500; ++i) ids.push_back(rng() % data.size());
  Dataset got = EmptyLike(data), expected = EmptyLike(data);
  ASSERT_TRUE((*reader)->Gather(ids.data(), ids.size(), &got).ok());
  AppendSampleIds(data, ids.data(), ids.size(), &expected);
  ExpectSameSamples(expected, got);
  EXPECT_LE((*reader)->stats().cached_bytes, size_t{8} << 10);
  const uint64_t past = data.size();
  EXPECT_EQ((*reader)->Gather(&past, 1, &got).code(), StatusCode::kInvalidArgument);
}

TEST(ShardSampleReaderTest, OpensOnlyTheShardsItsIdsFallIn) {
  const Dataset data = Mixed(400, 9);
  ShardSetWriteOptions options;
  options.dir = testing::MakeTempDir();
  options.num_shards = 4;
  ASSERT_TRUE(WriteShardSet(data, proto::Schema(), {}, options).ok());
  ASSERT_EQ(std::remove((options.dir + "/shard-00000-of-00004.iaks").c_str()), 0);
  StatusOr<std::unique_ptr<ShardSampleReader>> reader = ShardSampleReader::Open(options.dir);
  ASSERT_TRUE(reader.ok()) << reader.status();
  Dataset got = EmptyLike(data);
  EXPECT_TRUE((*reader)->GatherRange({200, 400}, &got).ok());
  EXPECT_EQ((*reader)->stats().shards_opened, 2u);
  const Status missing = (*reader)->GatherRange({0, 1}, &got);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("shard-00000-of-00004.iaks"), std::string::npos);
}

TEST(StreamedCursorTest, SmallRangesVisitTheOrderOfTheListedIds) {
  SampleIds listed;
  for (uint32_t id = 100; id < 600; ++id) listed.push_back(id);
  for (uint32_t id = 2000; id < 2300; ++id) listed.push_back(id);
  GlobalCursor list(listed, 11);
  GlobalCursor ranged({}, 11, {{100, 600}, {2000, 2300}});
  SampleIds a, b;
  for (int step = 0; step < 20; ++step) {
    for (int r = 0; r < 2; ++r) {
      list.Slice(r, 2, 50, &a);
      ranged.Slice(r, 2, 50, &b);
      EXPECT_EQ(a, b);
    }
    list.Advance(2, 50);
    ranged.Advance(2, 50);
  }
}

TEST(StreamedCursorTest, LargeRangesTileEachEpochAcrossMembershipChangesAndResume) {
  const uint64_t n = GlobalCursor::kExactShuffleIds + 12345;
  const IdRanges ranges = {{5, 5 + n / 2}, {10000000, 10000000 + (n - n / 2)}};
  GlobalCursor cursor({}, 3, ranges);
  ASSERT_EQ(cursor.num_ids(), n);
  std::vector<uint8_t> seen(n, 0);
  auto index = [&](uint32_t id) { return id < 10000000 ? id - 5 : n / 2 + (id - 10000000); };
  SampleIds slice;
  int sizes[] = {1, 3, 2};
  uint64_t step = 0, visited = 0;
  BatchCursor saved;
  SampleIds after_resume;
  while (cursor.cursor().epoch == 0) {
    const int size = sizes[(step / 50) % 3];
    for (int r = 0; r < size; ++r) {
      cursor.Slice(r, size, 4096, &slice);
      for (uint32_t id : slice) {
        ASSERT_EQ(seen[index(id)]++, 0) << "id " << id << " visited twice";
        ++visited;
      }
    }
    if (step == 77) {
      saved = cursor.cursor();
      cursor.Slice(0, 1, 4096, &after_resume);
    }
    cursor.Advance(size, 4096);
    ++step;
  }
  EXPECT_EQ(visited, n);
  GlobalCursor resumed({}, 3, ranges);
  ASSERT_TRUE(resumed.Seek(saved).ok());
  resumed.Slice(0, 1, 4096, &slice);
  EXPECT_EQ(slice, after_resume);
  // A batch comes from one or two stored blocks' worth of consecutive ids.
  std::set<uint32_t> blocks;
  for (uint32_t id : slice) blocks.insert(index(id) / GlobalCursor::kStreamBlockIds);
  EXPECT_LE(blocks.size(), 2u);
}

}  // namespace
}  // namespace iak::data
