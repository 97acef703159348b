// Row codec: fp16 and int8 error bounds, exact float32, refusal of values an
// encoding cannot hold; and snapshots written from arrays in each encoding,
// read back within bounds, with truncated shard files refused.
#include "embedding/row_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include "embedding/embedding_shard.h"
#include "embedding/manifest_io.h"
#include "embedding/snapshot_format.h"
#include "embedding/snapshot_writer.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::embedding {
namespace {

std::vector<float> RandomValues(uint64_t seed, size_t n, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> value(0.0f, scale);
  std::vector<float> out(n);
  for (float& v : out) v = value(rng);
  return out;
}

TEST(EmbeddingRowCodecTest, Float16IsWithinHalfAnUlpAndExactOnHalves) {
  for (float scale : {1e-3f, 1.0f, 300.0f}) {
    const std::vector<float> values = RandomValues(1, 4096, scale);
    std::vector<char> encoded(EncodedRowBytes(4096, RowDtype::kFloat16));
    ASSERT_TRUE(EncodeRow(values.data(), 4096, RowDtype::kFloat16, encoded.data()).ok());
    std::vector<float> decoded(4096);
    DecodeRows(encoded.data(), 1, 4096, RowDtype::kFloat16, decoded.data());
    for (size_t i = 0; i < values.size(); ++i) {
      // Normal halves: relative error <= 2^-11; subnormals: absolute <= 2^-25.
      const float bound = std::max(std::fabs(values[i]) / 2048.0f, 2.98e-8f);
      ASSERT_LE(std::fabs(decoded[i] - values[i]), bound) << values[i];
      // Decoding again and re-encoding is the identity on halves.
      EXPECT_EQ(FloatToHalf(decoded[i]), FloatToHalf(values[i]));
    }
  }
  EXPECT_EQ(HalfToFloat(FloatToHalf(65504.0f)), 65504.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(-0.5f)), -0.5f);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(5.9604645e-8f), 0x0001);  // smallest subnormal
}

TEST(EmbeddingRowCodecTest, Int8IsWithinHalfAStepOfItsRowScale) {
  constexpr int kDim = 16;
  for (int row = 0; row < 200; ++row) {
    const std::vector<float> values = RandomValues(100 + row, kDim, 0.1f * (row + 1));
    std::vector<char> encoded(EncodedRowBytes(kDim, RowDtype::kInt8));
    ASSERT_EQ(encoded.size(), 4u + kDim);
    ASSERT_TRUE(EncodeRow(values.data(), kDim, RowDtype::kInt8, encoded.data()).ok());
    std::vector<float> decoded(kDim);
    DecodeRows(encoded.data(), 1, kDim, RowDtype::kInt8, decoded.data());
    float max_abs = 0;
    for (float v : values) max_abs = std::max(max_abs, std::fabs(v));
    for (int i = 0; i < kDim; ++i) {
      ASSERT_LE(std::fabs(decoded[i] - values[i]), max_abs / 254.0f * 1.0001f);
    }
  }
  // An all-zero row has scale 0 and decodes to zeros.
  std::vector<float> zeros(kDim, 0.0f), decoded(kDim, 1.0f);
  std::vector<char> encoded(EncodedRowBytes(kDim, RowDtype::kInt8));
  ASSERT_TRUE(EncodeRow(zeros.data(), kDim, RowDtype::kInt8, encoded.data()).ok());
  DecodeRows(encoded.data(), 1, kDim, RowDtype::kInt8, decoded.data());
  EXPECT_EQ(decoded, zeros);
}

TEST(EmbeddingRowCodecTest, RefusesValuesTheEncodingCannotHold) {
  const float too_big[2] = {1.0f, 70000.0f};
  char out[64];
  Status s = EncodeRow(too_big, 2, RowDtype::kFloat16, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("65504"), std::string::npos) << s;
  EXPECT_TRUE(EncodeRow(too_big, 2, RowDtype::kInt8, out).ok());
  const float nan[1] = {std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(EncodeRow(nan, 1, RowDtype::kFloat32, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRowDtype("bf16").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseRowDtype(""), RowDtype::kFloat32);
  EXPECT_EQ(*ParseRowDtype("fp16"), RowDtype::kFloat16);
}

class EmbeddingArraySnapshotTest : public ::testing::TestWithParam<RowDtype> {
 protected:
  testing::TempDir tmp_;
};

TEST_P(EmbeddingArraySnapshotTest, ArraysRoundTripInEachEncoding) {
  constexpr int kDim = 6;
  constexpr int kShards = 2;
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 500; ++i) keys.push_back(i * 7919 + 3);
  const std::vector<float> values = RandomValues(9, keys.size() * kDim, 1.0f);
  SnapshotContents contents;
  contents.options.embedding_dim = kDim;
  contents.options.num_shards = kShards;
  contents.keys = &keys;
  contents.values = &values;
  contents.options.dtype = GetParam();
  const std::string dir = tmp_.Sub("model");
  ASSERT_TRUE(WriteModelDirectory(dir, contents).ok());
  StatusOr<proto::ModelManifest> manifest = ReadManifest(dir);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->row_dtype(), RowDtypeName(GetParam()));
  std::vector<std::unique_ptr<EmbeddingShard>> shards;
  for (int s = 0; s < kShards; ++s) {
    StatusOr<std::unique_ptr<EmbeddingShard>> shard =
        EmbeddingShard::Open(dir, *manifest, s, EmbeddingShard::LoadOptions{true});
    ASSERT_TRUE(shard.ok()) << shard.status();
    shards.push_back(std::move(shard).value());
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const float* row = shards[ShardOfKey(keys[i], kShards)]->Find(keys[i]);
    ASSERT_NE(row, nullptr);
    for (int d = 0; d < kDim; ++d) {
      const float want = values[i * kDim + d];
      const float tolerance = GetParam() == RowDtype::kFloat32 ? 0.0f
                              : GetParam() == RowDtype::kFloat16
                                  ? std::fabs(want) / 2048.0f + 3e-8f
                                  : 0.05f;  // |v| < ~6 for N(0,1): max|row| / 254
      ASSERT_LE(std::fabs(row[d] - want), tolerance) << "key " << keys[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, EmbeddingArraySnapshotTest,
                         ::testing::Values(RowDtype::kFloat32, RowDtype::kFloat16,
                                           RowDtype::kInt8),
                         [](const ::testing::TestParamInfo<RowDtype>& info) {
                           return std::string(RowDtypeName(info.param));
                         });

TEST(EmbeddingArraySnapshotErrorsTest, DuplicateKeysAreRefused) {
  testing::TempDir tmp;
  std::vector<uint64_t> keys = {1, 2, 1};
  std::vector<float> values(3 * 2, 0.5f);
  SnapshotContents contents;
  contents.options.embedding_dim = 2;
  contents.keys = &keys;
  contents.values = &values;
  Status s = WriteModelDirectory(tmp.Sub("m"), contents);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("key 1 appears twice"), std::string::npos) << s;
}

TEST(EmbeddingArraySnapshotErrorsTest, TruncatedShardFileIsRefused) {
  testing::TempDir tmp;
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 2000; ++i) keys.push_back(i + 1);
  const std::vector<float> values = RandomValues(3, keys.size() * 8, 1.0f);
  SnapshotContents contents;
  contents.options.embedding_dim = 8;
  contents.keys = &keys;
  contents.values = &values;
  const std::string dir = tmp.Sub("m");
  ASSERT_TRUE(WriteModelDirectory(dir, contents).ok());
  // Cut the shard's table file in half.
  std::string sst;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/" + ShardDirName(0, 1))) {
    if (entry.path().extension() == ".sst") sst = entry.path().string();
  }
  ASSERT_FALSE(sst.empty());
  std::filesystem::resize_file(sst, std::filesystem::file_size(sst) / 2);
  StatusOr<std::unique_ptr<EmbeddingShard>> shard = EmbeddingShard::Open(dir, *ReadManifest(dir), 0);
  ASSERT_FALSE(shard.ok());
  EXPECT_TRUE(shard.status().code() == StatusCode::kDataLoss ||
              shard.status().code() == StatusCode::kIoError)
      << shard.status();
  EXPECT_NE(shard.status().message().find(ShardDirName(0, 1)), std::string::npos)
      << shard.status();
}

}  // namespace
}  // namespace iak::embedding
