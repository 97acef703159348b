// Columns through a schema give the samples the same lines of a file give.
#include "data/column_batch.h"

#include <gtest/gtest.h>

#include "data/dataset_append.h"
#include "data/text_reader.h"
#include "tests/data/test_files.h"

namespace iak::data {
namespace {

constexpr char kSchema[] = R"pb(
  name: "t"
  format: FORMAT_CSV
  has_header: true
  columns { name: "click" role: COLUMN_CLICK }
  columns { name: "user" role: COLUMN_CATEGORICAL }
  columns { name: "tags" role: COLUMN_MULTI_CATEGORICAL }
  columns { name: "price" role: COLUMN_NUMERIC transform: NUMERIC_LOG }
  columns { name: "note" role: COLUMN_IGNORED }
  domains {
    rules { domain: "cheap" column: "user" prefix: "u" }
    default_domain: "other"
  }
)pb";

class ColumnBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    testing::WriteFile(dir_ + "/t.schema.pbtxt", kSchema);
    StatusOr<CompiledSchema> schema = LoadSchema(dir_ + "/t.schema.pbtxt");
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = *schema;
  }

  std::string dir_;
  CompiledSchema schema_;
};

TEST_F(ColumnBatchTest, ColumnsGiveTheSamplesOfTheSameFile) {
  testing::WriteFile(dir_ + "/d.csv",
                     "click,user,tags,price,note\n"
                     "1,u7,a|b,3.5,x\n"
                     "0,\"v,8\",,,y\n"
                     "0,u9,c,0,\n");
  TextReadReport report;
  StatusOr<Dataset> file = ReadTextFiles(schema_, {dir_ + "/d.csv"}, TextReadOptions{}, &report);
  ASSERT_TRUE(file.ok()) << file.status();
  // Left out: the ignored column (empty).
  StatusOr<Dataset> cols = ParseColumns(schema_,
                                        {{"click", {"1", "0", "0"}},
                                         {"user", {"u7", "v,8", "u9"}},
                                         {"tags", {"a|b", "", "c"}},
                                         {"price", {"3.5", "", "0"}}},
                                        nullptr);
  ASSERT_TRUE(cols.ok()) << cols.status();
  EXPECT_EQ(cols->keys, file->keys);
  EXPECT_EQ(cols->offsets, file->offsets);
  EXPECT_EQ(cols->click, file->click);
  EXPECT_EQ(cols->domain, file->domain);
  EXPECT_EQ(cols->domain_names, file->domain_names);

  // A domain per row instead of the rules: named in order of appearance.
  const std::vector<std::string> domain{"z", "y", "z"};
  StatusOr<Dataset> forced = ParseColumns(
      schema_, {{"user", {"u7", "v,8", "u9"}}, {"tags", {"", "", ""}}, {"price", {"", "", ""}}},
      &domain);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->domain_names, (std::vector<std::string>{"z", "y"}));
  EXPECT_EQ(forced->domain, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(forced->keys[0], file->keys[0]);  // user u7
}

TEST_F(ColumnBatchTest, BadColumnsAreNamed) {
  auto message = [&](const std::vector<ColumnText>& columns) {
    StatusOr<Dataset> d = ParseColumns(schema_, columns, nullptr);
    EXPECT_FALSE(d.ok());
    return d.status().message();
  };
  EXPECT_NE(message({{"user", {"u1"}}, {"price", {"1"}}}).find("no column 'tags'"),
            std::string::npos);
  EXPECT_NE(message({{"user", {"u1"}}, {"tags", {""}}, {"price", {"1"}}, {"zip", {"1"}}})
                .find("has no column 'zip'"),
            std::string::npos);
  EXPECT_NE(message({{"user", {"u1", "u2"}}, {"tags", {""}}, {"price", {"1", "2"}}})
                .find("has 1 values but the batch has 2 rows"),
            std::string::npos);
  EXPECT_NE(message({{"user", {"u1"}}, {"tags", {""}}, {"price", {"cheap"}}})
                .find("row 0: column 4 ('price'): expected a number"),
            std::string::npos);
}

TEST_F(ColumnBatchTest, SelectedSamplesAreThoseOfTheWholeBatch) {
  StatusOr<Dataset> all = ParseColumns(schema_,
                                       {{"click", {"1", "0", "1"}},
                                        {"user", {"u7", "v8", "u9"}},
                                        {"tags", {"a|b", "", "c|d|e"}},
                                        {"price", {"3.5", "", "0"}}},
                                       nullptr);
  ASSERT_TRUE(all.ok()) << all.status();
  Dataset picked;
  picked.fields = all->fields;
  AppendSamples(*all, SampleIds{2, 0}, &picked);
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked.click, (std::vector<float>{1, 1}));
  EXPECT_EQ(picked.domain, (std::vector<int32_t>{all->domain[2], all->domain[0]}));
  for (int f = 0; f < all->num_fields(); ++f) {
    size_t n_all = 0, n_picked = 0;
    const uint64_t* a = all->FieldKeys(2, f, &n_all);
    const uint64_t* b = picked.FieldKeys(0, f, &n_picked);
    ASSERT_EQ(n_all, n_picked) << "field " << f;
    EXPECT_EQ(std::vector<uint64_t>(a, a + n_all), std::vector<uint64_t>(b, b + n_picked));
  }
  EXPECT_EQ(picked.offsets.back(), picked.keys.size());
}

}  // namespace
}  // namespace iak::data
