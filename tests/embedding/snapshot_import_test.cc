// `iak snapshot import` from .npy, safetensors and CSV/TSV files written by
// hand here: exact rows back, the same id whatever the format, and malformed
// or truncated inputs refused with the file (and line) named.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/keys.h"
#include "embedding/embedding_shard.h"
#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "embedding/npy_file.h"
#include "embedding/row_codec.h"
#include "embedding/safetensors_file.h"
#include "embedding/snapshot_import.h"
#include "embedding/text_rows_file.h"
#include "tests/embedding/test_model_dir.h"

namespace iak::embedding {
namespace {

using testing::TempDir;

constexpr int kDim = 3;

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// An .npy file as numpy.save writes it: header padded with spaces and a
// newline so the data starts at a multiple of 64 (v1: 2-byte length; v2/v3:
// 4-byte length).
std::string NpyBytes(const std::string& descr, const std::string& shape, const std::string& data,
                     int version = 1) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape +
                       ", }";
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  const uint32_t len = static_cast<uint32_t>(header.size());
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (version != 1) {
    out += static_cast<char>((len >> 16) & 0xff);
    out += static_cast<char>((len >> 24) & 0xff);
  }
  return out + header + data;
}

std::string SafetensorsBytes(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return out + json + data;
}

// A small table with awkward keys (0, 2^64-1) and values exactly
// representable in float16, so fp16 imports are exact too.
struct Fixture {
  std::vector<uint64_t> keys;
  std::vector<float> values;
};

Fixture MakeFixture() {
  Fixture f;
  f.keys = {0, 18446744073709551615ull, 42, 7, 1000000007, 123456789012345ull};
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> q(-512, 512);
  for (size_t i = 0; i < f.keys.size() * kDim; ++i) f.values.push_back(q(rng) / 64.0f);
  return f;
}

// Every row of `dir` equals the fixture's (read back through the shards).
void ExpectRows(const std::string& dir, const Fixture& f) {
  StatusOr<ModelDirectory> model = LoadModelDirectory(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  StatusOr<std::unique_ptr<LocalEmbeddingTable>> table = LocalEmbeddingTable::Open(*model);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ((*table)->num_rows(), f.keys.size());
  ASSERT_EQ((*table)->dim(), kDim);
  for (size_t i = 0; i < f.keys.size(); ++i) {
    const float* row = (*table)->Find(f.keys[i]);
    ASSERT_NE(row, nullptr) << "key " << f.keys[i];
    for (int d = 0; d < kDim; ++d) EXPECT_EQ(row[d], f.values[i * kDim + d]) << f.keys[i];
  }
}

class SnapshotImportTest : public ::testing::Test {
 protected:
  SnapshotImportOptions Options(const std::string& rows, const std::string& out) {
    SnapshotImportOptions options;
    options.rows_path = rows;
    options.out_dir = tmp_.Sub(out);
    options.num_shards = 2;
    return options;
  }
  std::string IdOf(const std::string& dir) { return ReadManifest(dir)->snapshot_id(); }

  // The snapshot id that importing `rows` should give: the same table
  // written directly (two shards, as Options() asks).
  std::string ReferenceIdOf(const std::string& rows, int dim, const std::vector<uint64_t>& keys,
                            const std::vector<float>& values, const std::string& name) {
    SnapshotContents contents;
    contents.options.embedding_dim = dim;
    contents.options.num_shards = 2;
    contents.keys = &keys;
    contents.values = &values;
    contents.options.base_manifest.set_data_description("imported from " + rows);
    EXPECT_TRUE(WriteModelDirectory(tmp_.Sub(name), contents).ok());
    return IdOf(tmp_.Sub(name));
  }

  TempDir tmp_;
  Fixture f_ = MakeFixture();
};

TEST_F(SnapshotImportTest, NpyRowsWithTextOrNpyKeysRoundTripExactly) {
  const std::string rows = tmp_.Sub("rows.npy");
  WriteFile(rows, NpyBytes("<f4", "(6, 3)", RawBytes(f_.values)));
  std::string key_text = "# keys\n";
  for (uint64_t k : f_.keys) key_text += std::to_string(k) + "\n";
  WriteFile(tmp_.Sub("keys.txt"), key_text);
  WriteFile(tmp_.Sub("keys.npy"), NpyBytes("<u8", "(6,)", RawBytes(f_.keys), /*version=*/2));

  SnapshotImportOptions options = Options(rows, "a");
  options.keys_path = tmp_.Sub("keys.txt");
  StatusOr<proto::ModelManifest> a = ImportSnapshot(options);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->num_shards(), 2);
  EXPECT_EQ(a->embedding_dim(), kDim);
  ExpectRows(options.out_dir, f_);

  options = Options(rows, "b");
  options.keys_path = tmp_.Sub("keys.npy");
  ASSERT_TRUE(ImportSnapshot(options).ok());
  ExpectRows(options.out_dir, f_);
  EXPECT_EQ(IdOf(tmp_.Sub("a")), IdOf(tmp_.Sub("b")));
}

// More rows than one streamed chunk (65,536): the import reads the .npy in
// pieces and writes the snapshot the in-memory writer writes from the same
// rows (same id), and a duplicate key beyond the first chunk is refused.
TEST_F(SnapshotImportTest, AnNpyLargerThanOneChunkIsStreamedToTheSameSnapshot) {
  constexpr size_t kRows = 70000;
  constexpr int kWide = 2;
  std::vector<uint64_t> keys(kRows);
  std::vector<float> values(kRows * kWide);
  for (size_t i = 0; i < kRows; ++i) {
    keys[i] = (i * 0x9e3779b97f4a7c15ULL) ^ 0x1234;  // distinct: an odd multiplier
    values[i * kWide] = static_cast<float>(i);
    values[i * kWide + 1] = -0.5f * static_cast<float>(i % 977);
  }
  const std::string rows = tmp_.Sub("big.npy");
  WriteFile(rows, NpyBytes("<f4", "(" + std::to_string(kRows) + ", 2)", RawBytes(values)));
  WriteFile(tmp_.Sub("big_keys.npy"),
            NpyBytes("<u8", "(" + std::to_string(kRows) + ",)", RawBytes(keys)));
  SnapshotImportOptions options = Options(rows, "big");
  options.keys_path = tmp_.Sub("big_keys.npy");
  StatusOr<proto::ModelManifest> imported = ImportSnapshot(options);
  ASSERT_TRUE(imported.ok()) << imported.status();

  EXPECT_EQ(imported->snapshot_id(), ReferenceIdOf(rows, kWide, keys, values, "reference"));

  keys[kRows - 1] = keys[70];  // a duplicate in the second chunk
  WriteFile(tmp_.Sub("big_keys.npy"),
            NpyBytes("<u8", "(" + std::to_string(kRows) + ",)", RawBytes(keys)));
  options = Options(rows, "dup");
  options.keys_path = tmp_.Sub("big_keys.npy");
  StatusOr<proto::ModelManifest> refused = ImportSnapshot(options);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("more than once"), std::string::npos)
      << refused.status();
  EXPECT_FALSE(ReadManifest(options.out_dir).ok());
}

// A chunk holds at most about 64 MiB of values: the widest table a snapshot
// holds (65,536 floats a row) imports with a few rows in memory, not 65,536.
TEST_F(SnapshotImportTest, TheWidestRowsImportInChunksOfBoundedSize) {
  constexpr size_t kWidest = 65536;
  const std::vector<uint64_t> keys = {7, 9, 11};
  std::vector<float> values(keys.size() * kWidest);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1013) - 500.0f;
  const std::string rows = tmp_.Sub("wide.npy");
  WriteFile(rows, NpyBytes("<f4", "(3, 65536)", RawBytes(values)));
  WriteFile(tmp_.Sub("wide_keys.txt"), "7\n9\n11\n");
  SnapshotImportOptions options = Options(rows, "wide");
  options.keys_path = tmp_.Sub("wide_keys.txt");
  StatusOr<proto::ModelManifest> imported = ImportSnapshot(options);
  ASSERT_TRUE(imported.ok()) << imported.status();

  EXPECT_EQ(imported->snapshot_id(),
            ReferenceIdOf(rows, kWidest, keys, values, "wide_reference"));
}

TEST_F(SnapshotImportTest, Float16NpyAndVersion3HeaderRoundTrip) {
  std::vector<uint16_t> halves;
  for (float v : f_.values) halves.push_back(FloatToHalf(v));
  const std::string rows = tmp_.Sub("rows16.npy");
  WriteFile(rows, NpyBytes("<f2", "(6, 3)", RawBytes(halves), /*version=*/3));
  WriteFile(tmp_.Sub("keys.npy"), NpyBytes("<i8", "(6,)", RawBytes(f_.keys)));
  SnapshotImportOptions options = Options(rows, "h");
  // int64 keys: 2^64-1 is -1 as int64 and must be refused.
  options.keys_path = tmp_.Sub("keys.npy");
  StatusOr<proto::ModelManifest> refused = ImportSnapshot(options);
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("negative"), std::string::npos) << refused.status();

  std::vector<uint64_t> keys = f_.keys;
  keys[1] = 99;
  Fixture g = f_;
  g.keys = keys;
  WriteFile(tmp_.Sub("keys.npy"), NpyBytes("<i8", "(6,)", RawBytes(keys)));
  options.dtype = RowDtype::kFloat16;
  ASSERT_TRUE(ImportSnapshot(options).ok());
  EXPECT_EQ(ReadManifest(options.out_dir)->row_dtype(), "float16");
  ExpectRows(options.out_dir, g);  // the values are exact in fp16
}

TEST_F(SnapshotImportTest, SafetensorsWithKeysTensorRoundTrips) {
  const std::string values = RawBytes(f_.values);  // 72 bytes
  const std::string keys = RawBytes(f_.keys);      // 48 bytes
  const std::string json =
      "{\"__metadata__\": {\"format\": \"pt\", \"n\": -1.5e3}, "
      "\"emb.weight\": {\"dtype\": \"F32\", \"shape\": [6, 3], \"data_offsets\": [0, 72]}, "
      "\"emb.keys\": {\"dtype\": \"U64\", \"shape\": [6], \"data_offsets\": [72, 120]}}";
  const std::string path = tmp_.Sub("model.safetensors");
  WriteFile(path, SafetensorsBytes(json, values + keys));

  SnapshotImportOptions options = Options(path, "s");
  options.keys_tensor = "emb.keys";  // --tensor found: the only 2-D float tensor
  StatusOr<proto::ModelManifest> s = ImportSnapshot(options);
  ASSERT_TRUE(s.ok()) << s.status();
  ExpectRows(options.out_dir, f_);

  // The same rows from CSV (shuffled order, a header) give the same snapshot id.
  std::string csv = "key,a,b,c\n";
  for (size_t i = f_.keys.size(); i-- > 0;) {
    csv += std::to_string(f_.keys[i]);
    for (int d = 0; d < kDim; ++d) csv += "," + std::to_string(f_.values[i * kDim + d]);
    csv += "\n";
  }
  WriteFile(tmp_.Sub("rows.csv"), csv);
  ASSERT_TRUE(ImportSnapshot(Options(tmp_.Sub("rows.csv"), "c")).ok());
  ExpectRows(tmp_.Sub("c"), f_);
  EXPECT_EQ(IdOf(tmp_.Sub("s")), IdOf(tmp_.Sub("c")));

  // Another dtype or shard count is another snapshot.
  SnapshotImportOptions int8 = Options(tmp_.Sub("rows.csv"), "c8");
  int8.dtype = RowDtype::kInt8;
  ASSERT_TRUE(ImportSnapshot(int8).ok());
  EXPECT_NE(IdOf(tmp_.Sub("c8")), IdOf(tmp_.Sub("c")));
  SnapshotImportOptions three = Options(tmp_.Sub("rows.csv"), "c3");
  three.num_shards = 3;
  ASSERT_TRUE(ImportSnapshot(three).ok());
  EXPECT_NE(IdOf(tmp_.Sub("c3")), IdOf(tmp_.Sub("c")));
}

TEST_F(SnapshotImportTest, StateDictTablesGetTheKeysOfTheirFieldsValues) {
  // A TorchRec table (4 rows) and a torch.nn.Embedding (2 rows), dim 3.
  const std::vector<float> user(f_.values.begin(), f_.values.begin() + 12);
  const std::vector<float> item(f_.values.begin() + 12, f_.values.begin() + 18);
  const std::string json =
      "{\"embedding_bags.user.weight\": {\"dtype\": \"F32\", \"shape\": [4, 3], "
      "\"data_offsets\": [0, 48]}, "
      "\"item.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [48, 72]}}";
  const std::string path = tmp_.Sub("state_dict.safetensors");
  WriteFile(path, SafetensorsBytes(json, RawBytes(user) + RawBytes(item)));

  SnapshotImportOptions options = Options(path, "t");
  StatusOr<std::vector<TableField>> tables = ParseTableFields("user:0,item:movie", {"u", "movie"});
  ASSERT_TRUE(tables.ok()) << tables.status();
  options.tables = *tables;
  ASSERT_TRUE(ImportSnapshot(options).ok());
  Fixture raw;
  for (uint64_t i = 0; i < 4; ++i) raw.keys.push_back(FeatureKey(0, i));
  for (uint64_t i = 0; i < 2; ++i) raw.keys.push_back(FeatureKey(1, i));
  raw.values.assign(f_.values.begin(), f_.values.begin() + 18);
  ExpectRows(options.out_dir, raw);

  options.table_keys = TableKeys::kText;
  options.out_dir = tmp_.Sub("text");
  ASSERT_TRUE(ImportSnapshot(options).ok());
  Fixture text = raw;
  for (uint64_t i = 0; i < 6; ++i) {
    text.keys[i] = FeatureKey(i < 4 ? 0 : 1, HashBytes(std::to_string(i < 4 ? i : i - 4)));
  }
  ExpectRows(options.out_dir, text);

  // What is wrong is named.
  options.tables = {{"nope", 2}};
  Status missing = ImportSnapshot(options).status();
  EXPECT_NE(missing.message().find("no table \"nope\""), std::string::npos) << missing;
  EXPECT_NE(missing.message().find("item.weight"), std::string::npos) << missing;
  EXPECT_FALSE(ParseTableFields("user", {}).ok());
  EXPECT_FALSE(ParseTableFields("user:0,user:1", {}).ok());
  StatusOr<std::vector<TableField>> unknown = ParseTableFields("user:userid", {"u"});
  EXPECT_NE(unknown.status().message().find("(u)"), std::string::npos) << unknown.status();
  options.tables = {{"user", 0}};
  options.keys_tensor = "user.keys";
  EXPECT_EQ(ImportSnapshot(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SnapshotImportTest, TsvAndBaseModelKeepDenseWeights) {
  // A pre-trained model whose dense weights the import keeps.
  testing::Table base_table = testing::RandomTable(3, 10, kDim);
  ASSERT_TRUE(WriteModelDirectory(tmp_.Sub("base"), testing::ContentsOf(base_table, kDim, 1)).ok());
  std::string tsv;
  for (size_t i = 0; i < f_.keys.size(); ++i) {
    tsv += std::to_string(f_.keys[i]);
    for (int d = 0; d < kDim; ++d) tsv += "\t" + std::to_string(f_.values[i * kDim + d]);
    tsv += "\r\n";
  }
  WriteFile(tmp_.Sub("rows.tsv"), tsv);
  SnapshotImportOptions options = Options(tmp_.Sub("rows.tsv"), "t");
  options.base_model_dir = tmp_.Sub("base");
  ASSERT_TRUE(ImportSnapshot(options).ok());
  ExpectRows(options.out_dir, f_);
  StatusOr<ModelDirectory> imported = LoadModelDirectory(options.out_dir);
  ASSERT_TRUE(imported.ok());
  EXPECT_EQ(imported->dense_blob, LoadModelDirectory(tmp_.Sub("base"))->dense_blob);
  EXPECT_EQ(imported->manifest.num_tasks(), 2);
  // A base model of another dim is refused.
  options.out_dir = tmp_.Sub("t2");
  ASSERT_TRUE(WriteModelDirectory(tmp_.Sub("base5"), testing::ContentsOf(
                                                         testing::RandomTable(3, 10, 5), 5, 1))
                  .ok());
  options.base_model_dir = tmp_.Sub("base5");
  EXPECT_EQ(ImportSnapshot(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SnapshotImportTest, MalformedNpyIsRefusedNamingTheFile) {
  const std::string good = NpyBytes("<f4", "(6, 3)", RawBytes(f_.values));
  struct Case {
    std::string bytes;
    StatusCode code;
    std::string says;
  } cases[] = {
      {"not numpy at all", StatusCode::kInvalidArgument, "magic"},
      {good.substr(0, good.size() - 5), StatusCode::kDataLoss, "truncated"},
      {good + "xx", StatusCode::kDataLoss, "trailing"},
      {good.substr(0, 20), StatusCode::kDataLoss, "truncated"},
      {NpyBytes(">f4", "(6, 3)", RawBytes(f_.values)), StatusCode::kInvalidArgument, ">f4"},
      {NpyBytes("<f8", "(6, 3)", RawBytes(f_.values) + RawBytes(f_.values)),
       StatusCode::kInvalidArgument, "<f8"},
      {NpyBytes("<f4", "(6 3)", RawBytes(f_.values)), StatusCode::kInvalidArgument, "shape"},
      {NpyBytes("<f4", "(18,)", RawBytes(f_.values)), StatusCode::kInvalidArgument, "(18,)"},
      {std::string("\x93NUMPY\x09\x00", 8) + std::string(64, ' '), StatusCode::kInvalidArgument,
       "version 9"},
      {NpyBytes("<f4", "(1, 65537)", std::string(65537 * 4, '\0')),
       StatusCode::kInvalidArgument, "above the largest a snapshot holds (65536)"},
  };
  std::string keys;
  for (uint64_t k : f_.keys) keys += std::to_string(k) + "\n";
  WriteFile(tmp_.Sub("keys.txt"), keys);
  int i = 0;
  for (const Case& c : cases) {
    const std::string path = tmp_.Sub("bad" + std::to_string(i++) + ".npy");
    WriteFile(path, c.bytes);
    SnapshotImportOptions options = Options(path, "out");
    options.keys_path = tmp_.Sub("keys.txt");
    StatusOr<proto::ModelManifest> imported = ImportSnapshot(options);
    ASSERT_FALSE(imported.ok()) << path;
    EXPECT_EQ(imported.status().code(), c.code) << imported.status();
    EXPECT_NE(imported.status().message().find(path), std::string::npos) << imported.status();
    EXPECT_NE(imported.status().message().find(c.says), std::string::npos) << imported.status();
    EXPECT_FALSE(ReadManifest(options.out_dir).ok()) << "nothing written for " << path;
  }
  // Fortran order is refused with advice.
  std::string fortran = good;
  const size_t at = fortran.find("False");
  fortran.replace(at, 5, "True ");
  WriteFile(tmp_.Sub("f.npy"), fortran);
  EXPECT_NE(ReadNpyFile(tmp_.Sub("f.npy")).status().message().find("ascontiguousarray"),
            std::string::npos);
  // No keys, too few keys, a bad key line.
  WriteFile(tmp_.Sub("rows.npy"), good);
  SnapshotImportOptions options = Options(tmp_.Sub("rows.npy"), "out");
  EXPECT_NE(ImportSnapshot(options).status().message().find("--keys"), std::string::npos);
  WriteFile(tmp_.Sub("few.txt"), "1\n2\n");
  options.keys_path = tmp_.Sub("few.txt");
  EXPECT_NE(ImportSnapshot(options).status().message().find("2 keys for 6 rows"),
            std::string::npos);
  WriteFile(tmp_.Sub("badkey.txt"), "1\n2\nthree\n");
  options.keys_path = tmp_.Sub("badkey.txt");
  EXPECT_NE(ImportSnapshot(options).status().message().find("badkey.txt:3"), std::string::npos);
}

TEST_F(SnapshotImportTest, MalformedSafetensorsIsRefused) {
  const std::string values = RawBytes(f_.values);
  const std::string keys = RawBytes(f_.keys);
  const std::string ok_json =
      "{\"w\": {\"dtype\": \"F32\", \"shape\": [6, 3], \"data_offsets\": [0, 72]}, "
      "\"k\": {\"dtype\": \"U64\", \"shape\": [6], \"data_offsets\": [72, 120]}}";
  const std::string good = SafetensorsBytes(ok_json, values + keys);
  struct Case {
    std::string bytes;
    StatusCode code;
    std::string says;
  } cases[] = {
      {good.substr(0, 5), StatusCode::kDataLoss, "truncated"},
      {good.substr(0, good.size() - 1), StatusCode::kDataLoss, "truncated"},
      {SafetensorsBytes("{\"w\": {\"dtype\": \"F32\", \"shape\": [6, 3], \"data_offsets\": [0, 70]}}",
                        values),
       StatusCode::kInvalidArgument, "need 72"},
      {SafetensorsBytes("{\"w\": {\"dtype\": \"F32\" \"shape\": [6, 3]}}", values),
       StatusCode::kInvalidArgument, "malformed"},
      {SafetensorsBytes("{\"w\": {\"dtype\": \"Q7\", \"shape\": [6, 3], \"data_offsets\": [0, 72]}}",
                        values),
       StatusCode::kInvalidArgument, "Q7"},
      {std::string("\xff\xff\xff\xff\x00\x00\x00\x00{}", 10), StatusCode::kDataLoss, "header"},
      // Fuzz finding (fuzz_safetensors): a \u escape without four hex digits
      // threw std::invalid_argument out of std::stoul and aborted.
      {SafetensorsBytes("{\"w\\uZZZZ\": {\"dtype\": \"F32\", \"shape\": [6, 3], "
                        "\"data_offsets\": [0, 72]}}",
                        values),
       StatusCode::kInvalidArgument, "4 hex digits"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string path = tmp_.Sub("bad" + std::to_string(i++) + ".safetensors");
    WriteFile(path, c.bytes);
    SnapshotImportOptions options = Options(path, "out");
    options.tensor = "w";
    options.keys_tensor = "k";
    StatusOr<proto::ModelManifest> imported = ImportSnapshot(options);
    ASSERT_FALSE(imported.ok()) << path;
    EXPECT_EQ(imported.status().code(), c.code) << imported.status();
    EXPECT_NE(imported.status().message().find(path), std::string::npos) << imported.status();
    EXPECT_NE(imported.status().message().find(c.says), std::string::npos) << imported.status();
  }
  // A tensor that is not there is named with those that are.
  WriteFile(tmp_.Sub("good.safetensors"), good);
  SnapshotImportOptions options = Options(tmp_.Sub("good.safetensors"), "out");
  options.tensor = "embedding";
  options.keys_tensor = "k";
  StatusOr<proto::ModelManifest> missing = ImportSnapshot(options);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("k, w"), std::string::npos) << missing.status();
}

TEST_F(SnapshotImportTest, MalformedCsvNamesTheLine) {
  struct Case {
    std::string text;
    std::string says;
  } cases[] = {
      {"1,0.5,0.25\n2,0.5\n", "rows.csv:2: 1 values, but the first row has 2"},
      {"1,0.5,0.25\n2,0.5,abc\n", "rows.csv:2: value 2 'abc' is not a number"},
      {"1,0.5,0.25\n-2,0.5,1\n", "rows.csv:2: the key '-2'"},
      {"1,0.5,0.25\n\n1,0.5,1\n", "rows.csv:3: key 1 appears again (first on line 1)"},
      {"1,0.5,inf\n", "rows.csv:1: value 2 is not finite"},
      {"key,a\n", "no rows"},
      {"1\n", "rows.csv:1: a key without values"},
  };
  for (const Case& c : cases) {
    StatusOr<RowTable> parsed = ParseCsvRows(c.text, "rows.csv");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.says), std::string::npos) << parsed.status();
  }
  StatusOr<RowTable> tsv = ParseCsvRows("5\t1.5\t-2\n6\t0\t3e2\n", "x.txt");
  ASSERT_TRUE(tsv.ok()) << tsv.status();
  EXPECT_EQ(tsv->dim, 2);
  EXPECT_EQ(tsv->keys, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(tsv->values, (std::vector<float>{1.5f, -2.0f, 0.0f, 300.0f}));
}

}  // namespace
}  // namespace iak::embedding
