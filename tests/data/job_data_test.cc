// A job names a schema-driven dataset or a shard set instead of MovieLens.
#include "worker/job_data.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(shards->dataset.keys, text->dataset.keys);
  EXPECT_EQ(shards->dataset.conversion, text->dataset.conversion);
  EXPECT_EQ(shards->splits[1].test, text->splits[1].test);
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
