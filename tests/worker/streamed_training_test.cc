// A streamed job (data.stream over a domain-ordered shard set: the worker
// reads each batch's samples block by block and holds only the validation
// samples) trains exactly like the job that loads the bundled MovieLens data
// whole: the same samples in the same batches, so bit-identical adapters and
// the same validation AUCs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
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

// Trains the small MovieLens job (with `configure` applied) once on the
// whole data set and once streamed from a shard set; both must end with the
// same parameters and validation curves. Returns the streamed trainer's
// first unit's parameter count (0 when a step failed).
size_t CheckStreamedTrainsLikeWhole(const std::function<void(proto::JobSpec*)>& configure) {
  testing_util::TempDir dir("iak_streamed_training_test");
  if (!dir.ok()) return 0;
  proto::JobSpec whole = testing_util::SmallMovieLensJob("streamed", dir.path() + "/model",
                                                         dir.path() + "/out");
  whole.mutable_validation()->set_every_n_steps(20);
  configure(&whole);
  job::ApplyDefaults(&whole);
  const Status pretrained = testing_util::PretrainSmallModel(whole);
  EXPECT_TRUE(pretrained.ok()) << pretrained;
  if (!pretrained.ok()) return 0;
  StatusOr<TrainingInputs> loaded = LoadTrainingInputs(whole);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return 0;

  data::ShardSetWriteOptions write;
  write.dir = dir.path() + "/shards";
  write.num_shards = 3;
  write.file.block_samples = 1000;  // many blocks, and a cache that cannot hold them all
  const Status written =
      data::WriteShardSet(loaded->job.dataset, proto::Schema(), {}, write).status();
  EXPECT_TRUE(written.ok()) << written;
  if (!written.ok()) return 0;
  proto::JobSpec streamed = whole;
  streamed.mutable_data()->set_shard_manifest(write.dir + "/manifest.pbtxt");
  streamed.mutable_data()->set_stream(true);
  streamed.mutable_data()->set_stream_cache_mb(1);
  StatusOr<TrainingInputs> streamed_inputs = LoadTrainingInputs(streamed);
  EXPECT_TRUE(streamed_inputs.ok()) << streamed_inputs.status();
  if (!streamed_inputs.ok() || streamed_inputs->job.stream == nullptr) return 0;
  EXPECT_LT(streamed_inputs->job.dataset.size(), loaded->job.dataset.size() / 5);

  StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> table =
      embedding::LocalEmbeddingTable::Open(loaded->model_dir);
  EXPECT_TRUE(table.ok()) << table.status();
  if (!table.ok()) return 0;
  LocalLookup rows(table->get());
  const std::atomic<bool> never(false);
  LocalTraining a(whole, &*loaded, &rows);
  const Status ran_whole = a.Run(never);
  EXPECT_TRUE(ran_whole.ok()) << ran_whole;
  LocalTraining b(streamed, &*streamed_inputs, &rows);
  const Status ran_streamed = b.Run(never);
  EXPECT_TRUE(ran_streamed.ok()) << ran_streamed;
  if (!ran_whole.ok() || !ran_streamed.ok()) return 0;
  EXPECT_EQ(a.trainer().units().size(), b.trainer().units().size());
  if (a.trainer().units().size() != b.trainer().units().size()) return 0;
  for (size_t u = 0; u < a.trainer().units().size(); ++u) {
    EXPECT_EQ(a.trainer().model(static_cast<int>(u))->Params(),
              b.trainer().model(static_cast<int>(u))->Params())
        << a.trainer().units()[u].name;
    const proto::UnitValidation& va = a.trainer().units()[u].validation;
    const proto::UnitValidation& vb = b.trainer().units()[u].validation;
    EXPECT_EQ(va.curve_size(), vb.curve_size());
    for (int i = 0; i < std::min(va.curve_size(), vb.curve_size()); ++i) {
      EXPECT_EQ(va.curve(i).auc(), vb.curve(i).auc());
    }
  }
  EXPECT_GT(streamed_inputs->job.stream->stats().blocks_decoded, 0u);
  return b.trainer().model(0)->Params().size();
}

TEST(StreamedTrainingTest, StreamedShardsTrainBitForBitLikeTheWholeDataSet) {
  EXPECT_GT(CheckStreamedTrainsLikeWhole([](proto::JobSpec*) {}), 0u);
}

// New-key rows and key biases count their keys over the unit's shard ranges
// and read each step's keys from the streamed batch: the same rows and
// biases as on the whole data set.
TEST(StreamedTrainingTest, RowsAndBiasesTrainBitForBitLikeTheWholeDataSet) {
  size_t adapter_only = CheckStreamedTrainsLikeWhole([](proto::JobSpec*) {});
  size_t with_keys = CheckStreamedTrainsLikeWhole([](proto::JobSpec* spec) {
    spec->mutable_iak()->mutable_new_key_rows()->set_enabled(true);
    proto::KeyBiasesSpec* biases = spec->mutable_iak()->mutable_key_biases();
    biases->set_enabled(true);
    biases->add_fields("user");
    biases->add_fields("movie");
  });
  EXPECT_GT(with_keys, adapter_only);  // the rows and biases are there
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
