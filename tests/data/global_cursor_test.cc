#include "data/global_cursor.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace iak::data {
namespace {

SampleIds Ids(size_t n) {
  SampleIds ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<uint32_t>(1000 + 3 * i);
  return ids;
}

TEST(GlobalCursorTest, MembersTakeConsecutiveSlicesOfTheEpochOrder) {
  const SampleIds ids = Ids(10);
  const SampleIds order = EpochOrder(ids, 7, 0);
  GlobalCursor cursor(ids, 7);
  SampleIds slice;
  cursor.Slice(0, 3, 2, &slice);
  EXPECT_EQ(slice, SampleIds(order.begin(), order.begin() + 2));
  cursor.Slice(2, 3, 2, &slice);
  EXPECT_EQ(slice, SampleIds(order.begin() + 4, order.begin() + 6));
  cursor.Advance(3, 2);
  EXPECT_EQ(cursor.cursor().epoch, 0);
  EXPECT_EQ(cursor.cursor().position, 6u);
  // Clipped at the end: member 1 gets the last 2 ids, member 2 none.
  cursor.Slice(1, 3, 2, &slice);
  EXPECT_EQ(slice, SampleIds(order.begin() + 8, order.end()));
  cursor.Slice(2, 3, 2, &slice);
  EXPECT_TRUE(slice.empty());
  cursor.Advance(3, 2);
  EXPECT_EQ(cursor.cursor().epoch, 1);
  EXPECT_EQ(cursor.cursor().position, 0u);
  cursor.Slice(0, 1, 3, &slice);
  const SampleIds order1 = EpochOrder(ids, 7, 1);
  EXPECT_EQ(slice, SampleIds(order1.begin(), order1.begin() + 3));
}

// Any sequence of group sizes (joins, leaves, failures between steps) visits
// every id of each data epoch exactly once.
TEST(GlobalCursorTest, MembershipChangesTileEveryEpochExactly) {
  const SampleIds ids = Ids(97);
  GlobalCursor cursor(ids, 11);
  std::mt19937 rng(5);
  std::map<int64_t, std::map<uint32_t, int>> visits;  // epoch -> id -> count
  const size_t batch = 4;
  int size = 3;
  SampleIds slice;
  while (cursor.cursor().epoch < 6) {
    if (rng() % 5 == 0) size = 1 + static_cast<int>(rng() % 5);  // a membership change
    const int64_t epoch = cursor.cursor().epoch;
    for (int r = 0; r < size; ++r) {
      cursor.Slice(r, size, batch, &slice);
      for (uint32_t id : slice) ++visits[epoch][id];
    }
    cursor.Advance(size, batch);
  }
  ASSERT_EQ(visits.size(), 6u);
  for (const auto& [epoch, counts] : visits) {
    EXPECT_EQ(counts.size(), ids.size()) << "epoch " << epoch << " skipped ids";
    for (const auto& [id, count] : counts) {
      EXPECT_EQ(count, 1) << "epoch " << epoch << " id " << id;
    }
  }
}

// A failed step redoes the same slice: seeking back to the sync point's
// cursor reproduces the same ids, in a group of another size too.
TEST(GlobalCursorTest, SeekBackRedoesTheSameIds) {
  const SampleIds ids = Ids(50);
  GlobalCursor a(ids, 3);
  a.Advance(2, 5);
  a.Advance(2, 5);
  const BatchCursor sync_point = a.cursor();
  SampleIds first, second, part;
  for (int r = 0; r < 3; ++r) {
    a.Slice(r, 3, 5, &part);
    first.insert(first.end(), part.begin(), part.end());
  }
  GlobalCursor b(ids, 3);
  ASSERT_TRUE(b.Seek(sync_point).ok());
  for (int r = 0; r < 1; ++r) {
    b.Slice(r, 1, 15, &part);
    second.insert(second.end(), part.begin(), part.end());
  }
  EXPECT_EQ(first, second);
}

TEST(GlobalCursorTest, SeekPastTheEndIsRefused) {
  GlobalCursor cursor(Ids(10), 1);
  Status bad = cursor.Seek(BatchCursor{0, 11});
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("10 training ids"), std::string::npos) << bad;
  EXPECT_EQ(cursor.Seek(BatchCursor{-1, 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(cursor.Seek(BatchCursor{2, 10}).ok());
}

}  // namespace
}  // namespace iak::data
