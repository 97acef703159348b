#include "data/batcher.h"

#include <algorithm>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace iak::data {
namespace {

using ::testing::ElementsAre;

BatcherOptions Options(size_t batch_size, uint64_t seed, bool shuffle) {
  BatcherOptions options;
  options.batch_size = batch_size;
  options.seed = seed;
  options.shuffle = shuffle;
  return options;
}

SampleIds Range(uint32_t n) {
  SampleIds ids(n);
  for (uint32_t i = 0; i < n; ++i) ids[i] = 500 + i;
  return ids;
}

// The batches of one epoch.
std::vector<SampleIds> Epoch(Batcher* b) {
  std::vector<SampleIds> out;
  SampleIds batch;
  while (b->Next(&batch)) out.push_back(batch);
  EXPECT_TRUE(batch.empty());
  return out;
}

SampleIds Flatten(const std::vector<SampleIds>& batches) {
  SampleIds all;
  for (const SampleIds& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

TEST(BatcherTest, EachEpochCoversEveryIdOnce) {
  const SampleIds ids = Range(103);
  Batcher b(ids, Options(10, 42, true));
  EXPECT_EQ(b.batches_per_epoch(), 11u);
  SampleIds previous;
  for (int epoch = 0; epoch < 3; ++epoch) {
    EXPECT_EQ(b.cursor().epoch, epoch);
    const std::vector<SampleIds> batches = Epoch(&b);
    ASSERT_EQ(batches.size(), 11u);
    for (size_t i = 0; i + 1 < batches.size(); ++i) EXPECT_EQ(batches[i].size(), 10u);
    EXPECT_EQ(batches.back().size(), 3u);
    SampleIds all = Flatten(batches);
    EXPECT_NE(all, ids);       // shuffled
    EXPECT_NE(all, previous);  // differently each epoch
    previous = all;
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, ids);
  }
}

TEST(BatcherTest, DeterministicForSeedAndEpoch) {
  const SampleIds ids = Range(50);
  EXPECT_EQ(EpochOrder(ids, 1, 0), EpochOrder(ids, 1, 0));
  EXPECT_NE(EpochOrder(ids, 1, 0), EpochOrder(ids, 2, 0));
  EXPECT_NE(EpochOrder(ids, 1, 0), EpochOrder(ids, 1, 1));
  Batcher a(ids, Options(7, 9, true));
  Batcher b(ids, Options(7, 9, true));
  for (int epoch = 0; epoch < 2; ++epoch) EXPECT_EQ(Epoch(&a), Epoch(&b));
  Batcher c(ids, Options(50, 9, true));
  EXPECT_EQ(Epoch(&c)[0], EpochOrder(ids, 9, 0));
}

TEST(BatcherTest, ResumesFromCursor) {
  const SampleIds ids = Range(40);
  Batcher a(ids, Options(6, 3, true));
  SampleIds batch;
  Epoch(&a);
  ASSERT_TRUE(a.Next(&batch));
  ASSERT_TRUE(a.Next(&batch));
  const BatchCursor saved = a.cursor();
  EXPECT_EQ(saved.epoch, 1);
  EXPECT_EQ(saved.position, 12u);

  Batcher b(ids, Options(6, 3, true));
  ASSERT_TRUE(b.Seek(saved).ok());
  // The rest of epoch 1 and all of epoch 2 match.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Epoch(&a), Epoch(&b));

  EXPECT_EQ(b.Seek({-1, 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Seek({0, 41}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(b.Seek({5, 40}).ok());  // end of an epoch is a valid place
  EXPECT_FALSE(b.Next(&batch));
  EXPECT_EQ(b.cursor().epoch, 6);
}

TEST(BatcherTest, NoShuffleKeepsOrder) {
  Batcher b({4, 8, 15, 16, 23}, Options(2, 0, false));
  EXPECT_THAT(Epoch(&b), ElementsAre(ElementsAre(4, 8), ElementsAre(15, 16), ElementsAre(23)));
  EXPECT_THAT(Epoch(&b), ElementsAre(ElementsAre(4, 8), ElementsAre(15, 16), ElementsAre(23)));
}

TEST(BatcherTest, EmptyIds) {
  Batcher b({}, Options(4, 0, true));
  SampleIds batch;
  EXPECT_FALSE(b.Next(&batch));
  EXPECT_EQ(b.batches_per_epoch(), 0u);
}

}  // namespace
}  // namespace iak::data
