#include "job/job_spec.h"

#include <gtest/gtest.h>

#include <cmath>
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

TEST(JobSpecTest, ComputeThreadsAreBounded) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  ApplyDefaults(&spec);
  for (int ok : {0, 1, 2, 64}) {
    spec.set_compute_threads(ok);
    EXPECT_TRUE(Validate(spec).ok()) << ok << ": " << Validate(spec);
  }
  spec.set_compute_threads(-1);
  const Status bad = Validate(spec);
  EXPECT_NE(bad.message().find("compute_threads"), std::string::npos) << bad;
  spec.set_compute_threads(1000);
  EXPECT_FALSE(Validate(spec).ok());
}

// Names, paths and launcher texts go into generated shell scripts and
// manifests a line each: a line break in one would add a line of its own.
TEST(JobSpecTest, TextFieldsWithLineBreaksOrControlCharactersAreRefused) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  ApplyDefaults(&spec);
  spec.set_name("Period tuning, 2004/2007 (a\u00e9)");
  spec.mutable_launcher()->add_slurm_extra_args("--mem=8G");
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.set_name("job\nrm -rf ~");
  Status bad = Validate(spec);
  EXPECT_NE(bad.message().find("'name'"), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("0x0a"), std::string::npos) << bad;
  spec.set_name("job");
  spec.mutable_launcher()->add_slurm_extra_args("--mem=8G\necho hi");
  bad = Validate(spec);
  EXPECT_NE(bad.message().find("launcher.slurm_extra_args"), std::string::npos) << bad;
  spec.mutable_launcher()->clear_slurm_extra_args();
  spec.mutable_launcher()->set_image("iak:1\t");
  EXPECT_NE(Validate(spec).message().find("launcher.image"), std::string::npos);
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

// New-key rows train below an adapter on h or x: other methods and the
// tower insertion are refused, naming the field.
TEST(JobSpecTest, NewKeyRowsNeedAnAdapterOnHOrX) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.mutable_iak()->mutable_new_key_rows()->set_enabled(true);
  ApplyDefaults(&spec);
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.set_method("plain");
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.set_method("full");
  Status bad = Validate(spec);
  EXPECT_NE(bad.message().find("iak.new_key_rows"), std::string::npos) << bad;
  spec.set_method("iak");
  spec.mutable_iak()->set_insertion("x");
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.mutable_iak()->set_insertion("tower");
  bad = Validate(spec);
  EXPECT_NE(bad.message().find("insertion"), std::string::npos) << bad;
}

// What a worker may keep of the rows it pulled: 0 = 256 MiB, -1 = off, and
// never for full fine-tuning (its rows change on the servers).
TEST(JobSpecTest, PinnedRowsBudget) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  ApplyDefaults(&spec);
  EXPECT_EQ(PinnedRowsBudgetBytes(spec), uint64_t{256} << 20);
  spec.set_pinned_rows_mb(64);
  EXPECT_EQ(PinnedRowsBudgetBytes(spec), uint64_t{64} << 20);
  spec.set_pinned_rows_mb(-1);
  EXPECT_EQ(PinnedRowsBudgetBytes(spec), 0u);
  spec.set_pinned_rows_mb(0);
  spec.set_method("full");
  EXPECT_EQ(PinnedRowsBudgetBytes(spec), 0u);
}

// A misspelt insertion is refused with the spec, before any node starts
// (it failed at the workers' model construction, with the cluster up).
TEST(JobSpecTest, RefusesAnUnknownInsertion) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  ApplyDefaults(&spec);
  for (const char* good : {"", "h", "x", "tower"}) {
    spec.mutable_iak()->set_insertion(good);
    EXPECT_TRUE(Validate(spec).ok()) << good << ": " << Validate(spec);
  }
  spec.mutable_iak()->set_insertion("H");
  const Status bad = Validate(spec);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("iak.insertion' = \"H\""), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("\"tower\""), std::string::npos) << bad;
}

// Key biases likewise, and they must name their fields.
TEST(JobSpecTest, KeyBiasesNeedAnAdapterOnHOrXAndFields) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.mutable_iak()->mutable_key_biases()->set_enabled(true);
  ApplyDefaults(&spec);
  Status bad = Validate(spec);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("names no fields"), std::string::npos) << bad;
  spec.mutable_iak()->mutable_key_biases()->add_fields("user");
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.set_method("dense");
  bad = Validate(spec);
  EXPECT_NE(bad.message().find("iak.key_biases"), std::string::npos) << bad;
  spec.set_method("iak");
  spec.mutable_iak()->set_insertion("tower");
  bad = Validate(spec);
  EXPECT_NE(bad.message().find("iak.key_biases"), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("insertion"), std::string::npos) << bad;}

// iak.fields (an adapter on some fields' pooled embeddings) needs the
// adapter on x; a single hidden width 0 means a linear encoder or decoder,
// a 0 among other widths is refused.
TEST(JobSpecTest, AdapterFieldsNeedInsertionXAndZeroHiddenMeansNone) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.mutable_iak()->add_fields("movie");
  ApplyDefaults(&spec);
  Status bad = Validate(spec);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("iak.fields"), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("insertion"), std::string::npos) << bad;
  spec.mutable_iak()->set_insertion("x");
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.mutable_iak()->clear_encoder_hidden();
  spec.mutable_iak()->add_encoder_hidden(0);
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.mutable_iak()->add_encoder_hidden(32);
  bad = Validate(spec);
  EXPECT_NE(bad.message().find("iak.encoder_hidden[0]"), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("a single 0 means no hidden layer"), std::string::npos) << bad;
}

// iak.initial_logvar: unset takes the adapter's default; set, it must be in
// [-20, 20] (the range the module clamps logvar to).
TEST(JobSpecTest, InitialLogvarIsInRange) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  ApplyDefaults(&spec);
  EXPECT_FALSE(spec.iak().has_initial_logvar());
  for (float ok : {-20.0f, -6.0f, 0.0f, 20.0f}) {
    spec.mutable_iak()->set_initial_logvar(ok);
    EXPECT_TRUE(Validate(spec).ok()) << ok << ": " << Validate(spec);
  }
  for (float bad : {-21.0f, 25.0f, std::nanf("")}) {
    spec.mutable_iak()->set_initial_logvar(bad);
    const Status status = Validate(spec);
    EXPECT_NE(status.message().find("iak.initial_logvar"), std::string::npos) << status;
  }
}

// Every method trains elastically through the one trainer, except full
// fine-tuning (its rows live on servers trained by a fixed group).
TEST(JobSpecTest, ElasticJobsTrainEveryMethodButFull) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.set_num_workers(2);
  spec.mutable_elastic()->set_enabled(true);
  for (const char* method : {"iak", "plain", "frozen", "dense", "lora"}) {
    spec.set_method(method);
    ApplyDefaults(&spec);
    EXPECT_TRUE(Validate(spec).ok()) << method << ": " << Validate(spec);
  }

  spec.set_method("full");
  const Status refused = Validate(spec);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("method"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("turn elastic off"), std::string::npos) << refused;
}

// elastic.max_failed_rounds: unset means 3 consecutive failed rounds are
// retried; a negative count is refused naming the field.
TEST(JobSpecTest, ElasticMaxFailedRoundsDefaultsToThreeAndRefusesNegatives) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.set_num_workers(2);
  spec.mutable_elastic()->set_enabled(true);
  ApplyDefaults(&spec);
  ASSERT_TRUE(Validate(spec).ok()) << Validate(spec);
  EXPECT_EQ(spec.elastic().max_failed_rounds(), 3);

  spec.mutable_elastic()->set_max_failed_rounds(-1);
  const Status refused = Validate(spec);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("elastic.max_failed_rounds"), std::string::npos) << refused;
}

TEST(JobSpecTest, GenreDomainsWithARandomSharePretrainNeedNoLaterPeriod) {
  proto::JobSpec spec;
  spec.set_model_dir("/m");
  spec.mutable_data()->add_period_bounds(1996);
  spec.mutable_data()->add_period_bounds(2019);  // one period: nothing later to fine-tune
  ApplyDefaults(&spec);
  EXPECT_NE(Validate(spec).message().find("data.pretrain_periods"), std::string::npos);
  spec.mutable_data()->add_genre_domains("Drama");
  spec.mutable_data()->set_pretrain_random_share(0.5);
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec);
  spec.mutable_data()->set_pretrain_random_share(1.0);
  EXPECT_NE(Validate(spec).message().find("data.pretrain_random_share"), std::string::npos);
  spec.mutable_data()->set_pretrain_random_share(0.5);
  spec.mutable_data()->add_genre_domains("");
  EXPECT_NE(Validate(spec).message().find("data.genre_domains"), std::string::npos);
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

// Items of the spec that used to pass validation and failed (or silently
// misbehaved) only after the cluster had started: each is now refused with
// the field's name.
TEST(JobSpecTest, NumbersOutOfRangeNaNAndInfinityAreRefusedWithTheFieldName) {
  struct Case {
    const char* text;
    const char* field;
  };
  const Case cases[] = {
      {"iak { encoder_hidden: -5 }", "'iak.encoder_hidden[0]' = -5"},
      {"iak { encoder_hidden: [32, 0] }", "'iak.encoder_hidden[1]' = 0"},
      {"iak { encoder_hidden: 2000000000 }", "'iak.encoder_hidden[0]' = 2000000000"},
      {"iak { decoder_hidden: 32 decoder_hidden: 0 }", "'iak.decoder_hidden[1]' = 0"},
      {"iak { latent_dim: 1000000000 }", "'iak.latent_dim' = 1000000000"},
      {"phases { phase: PHASE_COMPRESSION steps: 1 learning_rate: nan }",
       "'phases[0].learning_rate' = nan"},
      {"phases { phase: PHASE_COMPRESSION steps: 1 learning_rate: inf }",
       "'phases[0].learning_rate' = inf"},
      {"phases { phase: PHASE_COMPRESSION steps: 1 learning_rate: 1e30 }",
       "'phases[0].learning_rate' = 1e+30"},
      {"phases { phase: PHASE_COMPRESSION steps: 1 learning_rate: 0.01 }"
       "phases { phase: PHASE_MATCHING steps: 1 learning_rate: 0.01 beta: nan }",
       "'phases[1].beta' = nan"},
      {"phases { phase: PHASE_COMPRESSION steps: 1 learning_rate: 0.01 beta: -inf }",
       "'phases[0].beta' = -inf"},
      {"phases { phase: 7 steps: 1 learning_rate: 0.01 }",
       "'phases[0].phase' = 7 (no such phase)"},
      {"data { train_fraction: nan }", "'data.train_fraction'"},
      {"num_workers: 0", "'num_workers' = 0"},
      {"batch_size: 0", "'batch_size' = 0"},
      {"num_servers: 0", "'num_servers' = 0"},
      {"metrics_port: 99999", "'metrics_port' = 99999"},
      {"metrics_port: -1", "'metrics_port' = -1"},
      {"timeouts { pull_timeout_ms: -5 }", "'timeouts.pull_timeout_ms' = -5"},
      {"timeouts { heartbeat_timeout_ms: -1 }", "'timeouts.heartbeat_timeout_ms' = -1"},
      {"checkpoint { every_n_steps: -5 }", "'checkpoint.every_n_steps' = -5"},
      {"max_missing_key_rate: 1.5", "'max_missing_key_rate' = 1.5"},
      {"max_missing_key_rate: nan", "'max_missing_key_rate' = nan"},
      {"pinned_rows_mb: -2", "'pinned_rows_mb' = -2"},
      {"pinned_rows_mb: 2000000", "'pinned_rows_mb' = 2000000"},
      {"trainable { learning_rate: inf }", "'trainable.learning_rate' = inf"},
      {"method: \"lora\" lora { rank: 4 alpha: nan }", "alpha: nan"},
      {"method: \"lora\" lora { rank: 4 alpha: inf }", "'lora.alpha' = inf"},
  };
  for (const Case& c : cases) {
    const std::string path =
        WriteTemp("numbers.pbtxt", std::string("model_dir: \"/m\"\n") + c.text + "\n");
    StatusOr<proto::JobSpec> spec = LoadJobSpec(path);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(spec.status().message().find(c.field), std::string::npos)
        << c.text << " -> " << spec.status();
  }
  // Unset fields still take their defaults; the documented sentinels pass.
  const std::string ok = WriteTemp("numbers_ok.pbtxt",
                                   "model_dir: \"/m\"\n"
                                   "checkpoint { every_n_steps: -1 }\n"
                                   "metrics_port: 65535 max_missing_key_rate: 1\n");
  StatusOr<proto::JobSpec> spec = LoadJobSpec(ok);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->num_workers(), 2);
  EXPECT_EQ(spec->batch_size(), 256);
  EXPECT_EQ(spec->checkpoint().every_n_steps(), -1);
  EXPECT_DOUBLE_EQ(spec->max_missing_key_rate(), 1.0);
  proto::JobSpec defaults;
  defaults.set_model_dir("/m");
  ApplyDefaults(&defaults);
  EXPECT_DOUBLE_EQ(defaults.max_missing_key_rate(), 0.9);
  EXPECT_EQ(defaults.min_missing_key_lookups(), 10000);
}

}  // namespace
}  // namespace iak::job
