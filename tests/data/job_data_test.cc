// A job names a schema-driven dataset or a shard set instead of MovieLens.
#include "worker/job_data.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "data/shard_set.h"
#include "tests/data/test_files.h"

namespace iak::worker {
namespace {

proto::DataSpec AliExpressSpec() {
  proto::DataSpec spec;
  spec.set_schema_file("examples/aliexpress.schema.pbtxt");
  spec.add_input_files("datasets/samples/aliexpress_train_sample.csv");
  spec.add_input_files("datasets/samples/aliexpress_test_sample.csv");
  spec.set_train_fraction(0.8);
  spec.set_validation_fraction(0.1);
  spec.set_pretrain_periods(1);
  return spec;
}

// Each listed sample as (keys, click, conversion, timestamp), to compare
// samples across data sets whose ids differ.
std::vector<std::tuple<std::vector<uint64_t>, float, float, int64_t>> Samples(
    const data::Dataset& d, const std::vector<uint32_t>& ids) {
  std::vector<std::tuple<std::vector<uint64_t>, float, float, int64_t>> out;
  for (uint32_t id : ids) {
    std::vector<uint64_t> keys;
    for (int f = 0; f < d.num_fields(); ++f) {
      size_t n;
      const uint64_t* k = d.FieldKeys(id, f, &n);
      keys.insert(keys.end(), k, k + n);
    }
    out.emplace_back(keys, d.click[id], d.has_conversion() ? d.conversion[id] : 0.0f,
                     d.timestamp[id]);
  }
  return out;
}

TEST(JobDataTest, SchemaDrivenTextAndItsShardsGiveTheSameJob) {
  StatusOr<JobData> text = LoadJobData(AliExpressSpec());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->dataset.size(), 120u);
  EXPECT_EQ(text->text_report.conversion_positives, 4);
  EXPECT_EQ(text->pretrain_domains, std::vector<int>{0});
  EXPECT_EQ(text->finetune_domains, std::vector<int>{1});
  ASSERT_EQ(text->splits.size(), 2u);

  data::ShardSetWriteOptions options;
  options.dir = data::testing::MakeTempDir();
  options.num_shards = 3;
  ASSERT_TRUE(data::WriteShardSet(text->dataset, proto::Schema(), {}, options).ok());
  proto::DataSpec spec = AliExpressSpec();
  spec.set_shard_manifest(options.dir + "/manifest.pbtxt");
  StatusOr<JobData> shards = LoadJobData(spec);
  ASSERT_TRUE(shards.ok()) << shards.status();
  // The set is domain-ordered, so ids differ; every part lists the same
  // samples in the same order.
  ASSERT_EQ(shards->dataset.size(), text->dataset.size());
  for (size_t d = 0; d < 2; ++d) {
    EXPECT_EQ(Samples(shards->dataset, shards->splits[d].train),
              Samples(text->dataset, text->splits[d].train));
    EXPECT_EQ(Samples(shards->dataset, shards->splits[d].validation),
              Samples(text->dataset, text->splits[d].validation));
    EXPECT_EQ(Samples(shards->dataset, shards->splits[d].test),
              Samples(text->dataset, text->splits[d].test));
  }
}

TEST(JobDataTest, AStreamedJobHoldsOnlyValidationAndCutsTheSameRanges) {
  StatusOr<JobData> text = LoadJobData(AliExpressSpec());
  ASSERT_TRUE(text.ok()) << text.status();
  data::ShardSetWriteOptions options;
  options.dir = data::testing::MakeTempDir();
  options.num_shards = 2;
  options.file.block_samples = 16;
  ASSERT_TRUE(data::WriteShardSet(text->dataset, proto::Schema(), {}, options).ok());
  proto::DataSpec spec = AliExpressSpec();
  spec.set_shard_manifest(options.dir + "/manifest.pbtxt");
  spec.set_stream(true);
  StatusOr<JobData> streamed = LoadJobData(spec, /*stream=*/true);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  ASSERT_NE(streamed->stream, nullptr);
  EXPECT_EQ(streamed->num_sample_ids(), 120u);
  // Held: the fine-tuned domain's validation samples, nothing else.
  EXPECT_EQ(Samples(streamed->dataset, streamed->splits[1].validation),
            Samples(text->dataset, text->splits[1].validation));
  EXPECT_EQ(streamed->dataset.size(), text->splits[1].validation.size());
  EXPECT_TRUE(streamed->splits[1].train.empty());
  // The training range reads the training samples, in order.
  const data::IdRange train = streamed->ranges[1].train;
  ASSERT_EQ(train.size(), text->splits[1].train.size());
  data::Dataset read = streamed->stream->empty();
  ASSERT_TRUE(streamed->stream->GatherRange(train, &read).ok());
  std::vector<uint32_t> all(read.size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  EXPECT_EQ(Samples(read, all), Samples(text->dataset, text->splits[1].train));
  // Without `stream` (evaluation) the same spec loads everything.
  StatusOr<JobData> whole = LoadJobData(spec);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->stream, nullptr);
  EXPECT_EQ(whole->dataset.size(), 120u);
}

TEST(JobDataTest, StreamingASetInInputOrderIsRefusedWithTheFix) {
  StatusOr<JobData> text = LoadJobData(AliExpressSpec());
  ASSERT_TRUE(text.ok()) << text.status();
  data::ShardSetWriteOptions options;
  options.dir = data::testing::MakeTempDir();
  options.domain_ordered = false;
  ASSERT_TRUE(data::WriteShardSet(text->dataset, proto::Schema(), {}, options).ok());
  proto::DataSpec spec = AliExpressSpec();
  spec.set_shard_manifest(options.dir + "/manifest.pbtxt");
  spec.set_stream(true);
  StatusOr<JobData> streamed = LoadJobData(spec, /*stream=*/true);
  ASSERT_FALSE(streamed.ok());
  EXPECT_EQ(streamed.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(streamed.status().message().find("not domain-ordered"), std::string::npos);
}

TEST(JobDataTest, SchemaWithoutInputFilesIsAnError) {
  proto::DataSpec spec = AliExpressSpec();
  spec.clear_input_files();
  StatusOr<JobData> job = LoadJobData(spec);
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("input_files is empty"), std::string::npos);
}

TEST(JobDataTest, RandomSharePretrainsAndEveryOtherDomainIsFineTuned) {
  proto::DataSpec spec = AliExpressSpec();
  spec.set_pretrain_random_share(0.5);
  StatusOr<JobData> job = LoadJobData(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->dataset.domain_names.size(), 3u);
  EXPECT_EQ(job->dataset.domain_names[2], "pretrain");
  EXPECT_EQ(job->pretrain_domains, std::vector<int>{2});
  EXPECT_EQ(job->finetune_domains, (std::vector<int>{0, 1}));
  const size_t pretrain = job->splits[2].train.size() + job->splits[2].validation.size() +
                          job->splits[2].test.size();
  EXPECT_GT(pretrain, 30u);  // about half of 120
  EXPECT_LT(pretrain, 90u);
  spec.set_pretrain_random_share(1.0);
  StatusOr<JobData> bad = LoadJobData(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("pretrain_random_share"), std::string::npos);
}

}  // namespace
}  // namespace iak::worker
