// The tiny JSON reader: the shapes this project writes (objects of arrays of
// objects, null for NaN), string escapes, and clear errors.
#include "common/json_reader.h"

#include <gtest/gtest.h>

namespace iak {
namespace {

TEST(JsonReaderTest, ReadsNestedValues) {
  StatusOr<JsonValue> doc = ParseJson(
      " {\"units\": [{\"unit\": \"2004-2007\", \"auc\": 0.65, \"best\": null, \"stopped\": true,"
      " \"kept\": false, \"curve\": [{\"global_step\": 50, \"auc\": -1.5e-3}]}, {}], \"n\": 2}\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_EQ(doc->kind(), JsonValue::Kind::kObject);
  const std::vector<JsonValue>& units = (*doc)["units"].Array();
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0]["unit"].String(), "2004-2007");
  EXPECT_DOUBLE_EQ(units[0]["auc"].Number(), 0.65);
  EXPECT_TRUE(units[0]["best"].is_null());
  EXPECT_TRUE(units[0].Has("best"));
  EXPECT_TRUE(units[0]["stopped"].Bool());
  EXPECT_FALSE(units[0]["kept"].Bool(true));
  EXPECT_DOUBLE_EQ(units[0]["curve"].Array()[0]["auc"].Number(), -1.5e-3);
  EXPECT_EQ(units[1].Object().size(), 0u);
  // Absent members and kind mismatches give the fallback.
  EXPECT_TRUE(units[1]["missing"].is_null());
  EXPECT_FALSE(units[1].Has("missing"));
  EXPECT_EQ((*doc)["n"].String(), "");
  EXPECT_DOUBLE_EQ((*doc)["units"].Number(-1), -1);
  EXPECT_TRUE((*doc)["n"]["x"].is_null());
}

TEST(JsonReaderTest, DecodesStringEscapes) {
  StatusOr<JsonValue> doc =
      ParseJson(R"(["a\"b\\c\/d\n\t", "\u00e9\u20ac", "\ud83d\ude00", ""])");
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_EQ(doc->Array().size(), 4u);
  EXPECT_EQ(doc->Array()[0].String(), "a\"b\\c/d\n\t");
  EXPECT_EQ(doc->Array()[1].String(), "\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(doc->Array()[2].String(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(doc->Array()[3].String(), "");
}

TEST(JsonReaderTest, RefusesMalformedDocumentsNamingTheOffset) {
  for (const char* bad : {"", "{", "{\"a\" 1}", "{\"a\": 1,}", "[1 2]", "\"open", "nul",
                          "{\"a\": 1} x", "\"\\q\"", "[\"\\u12\"]", "{1: 2}"}) {
    StatusOr<JsonValue> doc = ParseJson(bad);
    ASSERT_FALSE(doc.ok()) << bad;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(doc.status().message().find("at byte"), std::string::npos) << doc.status();
  }
  EXPECT_FALSE(ParseJson(std::string(100, '[') + std::string(100, ']')).ok());
  EXPECT_TRUE(ParseJson(std::string(60, '[') + std::string(60, ']')).ok());
}

}  // namespace
}  // namespace iak
