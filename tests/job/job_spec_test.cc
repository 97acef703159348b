#include "job/job_spec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace iak::job {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(JobSpecTest, DefaultsMakeAValidSpec) {
  proto::JobSpec spec;
  spec.set_model_dir("/tmp/model");
  ApplyDefaults(&spec);
  ASSERT_TRUE(Validate(spec).ok()) << Validate(spec);
  EXPECT_EQ(spec.phases_size(), 2);
  EXPECT_EQ(spec.phases(0).phase(), proto::PHASE_COMPRESSION);
  EXPECT_EQ(spec.phases(1).phase(), proto::PHASE_MATCHING);
  EXPECT_GT(spec.phases(0).beta(), spec.phases(1).beta());
  EXPECT_EQ(spec.data().period_bounds_size(), 6);
}

TEST(JobSpecTest, RoundTripsThroughTextFormat) {
  proto::JobSpec spec;
  spec.set_model_dir("/tmp/model");
  spec.set_batch_size(64);
  ApplyDefaults(&spec);
  const std::string path = testing::TempDir() + "/round_trip.pbtxt";
  ASSERT_TRUE(SaveJobSpec(spec, path).ok());
  StatusOr<proto::JobSpec> loaded = LoadJobSpec(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->SerializeAsString(), spec.SerializeAsString());
}

TEST(JobSpecTest, UnknownFieldNamesTheLine) {
  const std::string path = WriteTemp("unknown.pbtxt",
                                     "model_dir: \"/m\"\n"
                                     "batch_sise: 12\n");
  StatusOr<proto::JobSpec> spec = LoadJobSpec(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find(path), std::string::npos) << spec.status();
  EXPECT_NE(spec.status().message().find("line 2"), std::string::npos) << spec.status();
  EXPECT_NE(spec.status().message().find("batch_sise"), std::string::npos) << spec.status();
}

TEST(JobSpecTest, BadValuesSayWhatIsAllowed) {
  const std::string path = WriteTemp("bad_value.pbtxt",
                                     "model_dir: \"/m\"\n"
                                     "data { period_bounds: 2000 period_bounds: 1990 }\n");
  StatusOr<proto::JobSpec> spec = LoadJobSpec(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("data.period_bounds"), std::string::npos)
      << spec.status();
  EXPECT_NE(spec.status().message().find("increase"), std::string::npos) << spec.status();

  proto::JobSpec no_model;
  ApplyDefaults(&no_model);
  EXPECT_NE(Validate(no_model).message().find("model_dir"), std::string::npos);

  proto::JobSpec bad_phase;
  bad_phase.set_model_dir("/m");
  proto::PhaseCommand* phase = bad_phase.add_phases();
  phase->set_phase(proto::PHASE_FINISHED);
  phase->set_learning_rate(0.1f);
  ApplyDefaults(&bad_phase);
  EXPECT_NE(Validate(bad_phase).message().find("PHASE_COMPRESSION or PHASE_MATCHING"),
            std::string::npos);
}

TEST(JobSpecTest, FrozenPrecisionIsFp32OrBf16) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  ApplyDefaults(&spec);
  for (const char* ok : {"", "fp32", "bf16"}) {
    spec.set_frozen_precision(ok);
    EXPECT_TRUE(Validate(spec).ok()) << ok << ": " << Validate(spec);
  }
  spec.set_frozen_precision("fp16");
  const Status bad = Validate(spec);
  EXPECT_NE(bad.message().find("frozen_precision"), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("\"bf16\""), std::string::npos) << bad;
}

TEST(JobSpecTest, ElasticJobsTrainAdapters) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.set_num_workers(2);
  spec.mutable_elastic()->set_enabled(true);
  spec.set_method("plain");
  ApplyDefaults(&spec);
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);

  spec.set_method("dense");
  const Status refused = Validate(spec);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("method"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("turn elastic off"), std::string::npos) << refused;
}

TEST(JobSpecTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadJobSpec("/nonexistent/job.pbtxt").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace iak::job

namespace iak::job {
namespace {

TEST(JobSpecTest, EveryExampleJobSpecLoads) {
  for (const char* path : {"examples/movielens_job.pbtxt", "examples/slurm_job.pbtxt",
                           "examples/kubernetes_job.pbtxt"}) {
    StatusOr<proto::JobSpec> spec = LoadJobSpec(path);
    EXPECT_TRUE(spec.ok()) << path << ": " << spec.status();
  }
}

TEST(JobSpecTest, ExampleSpecInTheRepoIsValid) {
  StatusOr<proto::JobSpec> spec = LoadJobSpec("examples/movielens_job.pbtxt");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->phases_size(), 2);
  EXPECT_EQ(spec->data().period_bounds_size(), 6);
}

}  // namespace
}  // namespace iak::job
