// A streamed job (data.stream over a domain-ordered shard set: the worker
// reads each batch's samples block by block and holds only the validation
// samples) trains exactly like the job that loads the bundled MovieLens data
// whole: the same samples in the same batches, so bit-identical adapters and
// the same validation AUCs.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "data/shard_set.h"
#include "embedding/model_directory.h"
#include "job/job_spec.h"
#include "tests/testing/pretrained_model.h"
#include "tests/testing/small_job.h"
#include "tests/testing/temp_dir.h"
#include "worker/local_lookup.h"
#include "worker/local_training.h"

namespace iak::worker {
namespace {

TEST(StreamedTrainingTest, StreamedShardsTrainBitForBitLikeTheWholeDataSet) {
  testing_util::TempDir dir("iak_streamed_training_test");
  ASSERT_TRUE(dir.ok());
  proto::JobSpec whole = testing_util::SmallMovieLensJob("streamed", dir.path() + "/model",
                                                         dir.path() + "/out");
  whole.mutable_validation()->set_every_n_steps(20);
  job::ApplyDefaults(&whole);
  ASSERT_TRUE(testing_util::PretrainSmallModel(whole).ok());
  StatusOr<TrainingInputs> loaded = LoadTrainingInputs(whole);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  data::ShardSetWriteOptions write;
  write.dir = dir.path() + "/shards";
  write.num_shards = 3;
  write.file.block_samples = 1000;  // many blocks, and a cache that cannot hold them all
  ASSERT_TRUE(data::WriteShardSet(loaded->job.dataset, proto::Schema(), {}, write).ok());
  proto::JobSpec streamed = whole;
  streamed.mutable_data()->set_shard_manifest(write.dir + "/manifest.pbtxt");
  streamed.mutable_data()->set_stream(true);
  streamed.mutable_data()->set_stream_cache_mb(1);
  StatusOr<TrainingInputs> streamed_inputs = LoadTrainingInputs(streamed);
  ASSERT_TRUE(streamed_inputs.ok()) << streamed_inputs.status();
  ASSERT_NE(streamed_inputs->job.stream, nullptr);
  EXPECT_LT(streamed_inputs->job.dataset.size(), loaded->job.dataset.size() / 5);

  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(loaded->model_dir);
  ASSERT_TRUE(table.ok()) << table.status();
  LocalLookup rows(table->get());
  const std::atomic<bool> never(false);
  LocalTraining a(whole, &*loaded, &rows);
  ASSERT_TRUE(a.Run(never).ok());
  LocalTraining b(streamed, &*streamed_inputs, &rows);
  ASSERT_TRUE(b.Run(never).ok());
  ASSERT_EQ(a.trainer().units().size(), b.trainer().units().size());
  for (size_t u = 0; u < a.trainer().units().size(); ++u) {
    EXPECT_EQ(a.trainer().model(static_cast<int>(u))->Params(),
              b.trainer().model(static_cast<int>(u))->Params())
        << a.trainer().units()[u].name;
    const proto::UnitValidation& va = a.trainer().units()[u].validation;
    const proto::UnitValidation& vb = b.trainer().units()[u].validation;
    ASSERT_EQ(va.curve_size(), vb.curve_size());
    for (int i = 0; i < va.curve_size(); ++i) {
      EXPECT_EQ(va.curve(i).auc(), vb.curve(i).auc());
    }
  }
  EXPECT_GT(streamed_inputs->job.stream->stats().blocks_decoded, 0u);
}

TEST(StreamedTrainingTest, MethodsThatReadTheWholeSetRefuseStreaming) {
  proto::JobSpec spec = testing_util::SmallMovieLensJob("streamed", "/nonexistent", "/tmp");
  spec.set_method("full");
  spec.mutable_data()->set_stream(true);
  StatusOr<TrainingInputs> inputs = LoadTrainingInputs(spec);
  ASSERT_FALSE(inputs.ok());
  EXPECT_EQ(inputs.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(inputs.status().message().find("drop data.stream"), std::string::npos);
}

}  // namespace
}  // namespace iak::worker
