// The real path of `iak export` and `iak predict`: a model directory written
// by the snapshot writer and adapters saved by the adapter store, as a
// finished job leaves them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/file_util.h"
#include "embedding/snapshot_writer.h"
#include "model/fine_tune_step.h"
#include "worker/adapter_store.h"
#include "worker/domain_predictor.h"
#include "worker/exporter.h"
#include "worker/new_key_rows.h"
#include "worker/torch_export.h"
#include "embedding/safetensors_file.h"
#include "model/embedding_table.h"

namespace iak::worker {
namespace {

class JobFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/iak_export_job_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    model::BaseModelConfig c;
    c.embedding_dim = 4;
    c.num_fields = 2;
    c.bottom_hidden = {8, 6};
    c.tower_hidden = {5};
    base_ = std::make_unique<model::BaseModel>(c);
    base_->Init(3);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (uint64_t k = 1; k <= 40; ++k) {
      std::vector<float> row(4);
      for (float& v : row) v = g(rng);
      table_[k] = row;
    }
    embedding::SnapshotContents contents;
    contents.options.embedding_dim = 4;
    contents.options.num_shards = 2;
    contents.table = &table_;
    contents.options.dense_blob = base_->Serialize();
    ASSERT_TRUE(embedding::WriteModelDirectory(dir_ + "/model", contents).ok());
    model::IakConfig ic;
    ic.input_dim = 6;
    ic.latent_dim = 2;
    ic.encoder_hidden = {4};
    ic.decoder_hidden = {4};
    for (const char* name : {"east", "west"}) {
      model::IakModule a(ic);
      a.Init(name[0]);
      for (size_t i = a.decoder_param_range().begin; i < a.num_params(); ++i) {
        a.mutable_params()[i] = 0.3f * g(rng);
      }
      ASSERT_TRUE(SaveAdapter(dir_ + "/out/adapters", name, a).ok());
      adapters_.push_back(a);
    }
    spec_.set_model_dir(dir_ + "/model");
    spec_.set_output_dir(dir_ + "/out");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<model::BaseModel> base_;
  model::EmbeddingTable table_;
  std::vector<model::IakModule> adapters_;
  proto::JobSpec spec_;
};

TEST_F(JobFilesTest, ExportJobWritesEveryWeightBitExact) {
  StatusOr<ExportReport> report = ExportJob(spec_, dir_ + "/export");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->domains, (std::vector<std::string>{"east", "west"}));
  std::string blob;
  ASSERT_TRUE(ReadFileToString(report->path, &blob).ok());
  StatusOr<SafetensorsFile> file = DecodeSafetensors(blob, report->path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::vector<ExportTensor> expected = BaseModelTensors(*base_);
  for (const ExportTensor& t : AdapterTensors(adapters_[0], "iak.east.")) expected.push_back(t);
  for (const ExportTensor& t : AdapterTensors(adapters_[1], "iak.west.")) expected.push_back(t);
  ASSERT_EQ(file->tensors.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(file->tensors[i].name, expected[i].name);
    EXPECT_EQ(file->tensors[i].shape, expected[i].shape);
    EXPECT_EQ(file->tensors[i].values, expected[i].values) << expected[i].name;
  }
  EXPECT_EQ(file->metadata.at("domains"), "[\"east\",\"west\"]");
  EXPECT_EQ(file->metadata.at("bottom_hidden"), "[8,6]");
  EXPECT_EQ(file->metadata.at("iak.west"),
            "{\"input_dim\":6,\"latent_dim\":2,\"encoder_hidden\":[4],\"decoder_hidden\":[4],"
            "\"plain_adapter\":false}");
}

TEST_F(JobFilesTest, LoadedJobScoresEachSampleWithItsOwnDomainsAdapter) {
  // Domain "north" has no adapter: the frozen base scores it, and reports
  // say so next to it.
  StatusOr<std::unique_ptr<JobModels>> models = LoadJobModels(spec_, {"east", "north", "west"});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  EXPECT_EQ((*models)->num_adapters, 2);
  EXPECT_EQ((*models)->adapters[1], nullptr);
  EXPECT_EQ((*models)->notes,
            (std::vector<std::string>{"", "base model (no adapter file)", ""}));
  StatusOr<DomainPredictor> predictor = (*models)->MakePredictor();
  ASSERT_TRUE(predictor.ok());

  data::Dataset ds;
  ds.fields = {{"a"}, {"b"}};
  ds.domain_names = {"east", "north", "west"};
  data::SampleIds ids;
  for (uint32_t s = 0; s < 90; ++s) {
    ds.keys.push_back(1 + s % 40);
    ds.offsets.push_back(ds.keys.size());
    ds.keys.push_back(1 + (7 * s) % 45);  // keys 41..45 are absent: zero rows
    ds.offsets.push_back(ds.keys.size());
    ds.click.push_back(0);
    ds.domain.push_back(static_cast<int32_t>(s % 3));
    ds.timestamp.push_back(s);
    ids.push_back(s);
  }
  std::vector<float> scores(ids.size());
  ASSERT_TRUE(PredictSamples(ds, ids, *(*models)->rows, PredictOptions{}, &*predictor,
                             scores.data(), nullptr)
                  .ok());
  // Reference: each sample alone, pooled from the in-memory table, through
  // its domain's adapter (or none).
  model::TableLookup lookup(&table_);
  model::FineTuneStep step;
  const model::IakModule* by_domain[] = {&adapters_[0], nullptr, &adapters_[1]};
  for (uint32_t s = 0; s < ids.size(); ++s) {
    std::vector<float> x(8);
    model::PoolBatch(ds, &s, 1, 4, lookup, x.data());
    float expected = 0;
    step.Predict(*base_, by_domain[ds.domain[s]], x.data(), 1, &expected, nullptr);
    EXPECT_NEAR(scores[s], expected, 1e-6) << "sample " << s;
  }
}

TEST_F(JobFilesTest, NoMatchingAdapterIsAClearError) {
  StatusOr<std::unique_ptr<JobModels>> models = LoadJobModels(spec_, {"south"});
  EXPECT_EQ(models.status().code(), StatusCode::kNotFound);
  EXPECT_NE(models.status().message().find("iak submit"), std::string::npos);
}

}  // namespace
TEST_F(JobFilesTest, TorchExportHasLinearLayoutAndEveryRowInKeyOrder) {
  TorchExportOptions options;
  options.rows_per_file = 16;
  StatusOr<TorchExportReport> report = ExportTorchModel(spec_, dir_ + "/torch", options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->num_rows, 40);
  EXPECT_EQ(report->num_new_rows, 0);
  ASSERT_EQ(report->files.size(), 4u);  // model + ceil(40 / 16) rows files
  EXPECT_EQ(report->files[3], dir_ + "/torch/rows-00002-of-00003.safetensors");

  StatusOr<embedding::SafetensorsFile> dense = embedding::ReadSafetensorsFile(report->files[0]);
  ASSERT_TRUE(dense.ok()) << dense.status().ToString();
  // bottom.0 is [in 8, out 8] here; tower.0.0 is [6, 5] -> [5, 6], transposed.
  const std::vector<ExportTensor> base = BaseModelTensors(*base_);
  StatusOr<std::vector<float>> tower = dense->Floats("tower.0.0.weight");
  ASSERT_TRUE(tower.ok());
  EXPECT_EQ(dense->tensors.at("tower.0.0.weight").shape, (std::vector<uint64_t>{5, 6}));
  for (int i = 0; i < 6; ++i) {
    for (int o = 0; o < 5; ++o) EXPECT_EQ((*tower)[o * 6 + i], base[4].values[i * 5 + o]);
  }
  EXPECT_EQ(dense->tensors.count("adapters.1.decoder.1.bias"), 1u);  // west, the second
  EXPECT_EQ(dense->tensors.count("adapters.0.new_rows.keys"), 0u);   // no new-key rows

  std::vector<uint64_t> keys;
  std::vector<float> rows;
  for (size_t f = 1; f < report->files.size(); ++f) {
    StatusOr<embedding::SafetensorsFile> file = embedding::ReadSafetensorsFile(report->files[f]);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    StatusOr<std::vector<uint64_t>> k = file->Keys("row_keys");
    StatusOr<std::vector<float>> v = file->Floats("embedding_bags.rows.weight");
    ASSERT_TRUE(k.ok() && v.ok());
    keys.insert(keys.end(), k->begin(), k->end());
    rows.insert(rows.end(), v->begin(), v->end());
  }
  ASSERT_EQ(keys.size(), 40u);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(static_cast<int64_t>(keys[i - 1]), static_cast<int64_t>(keys[i]));
    }
    EXPECT_EQ(std::vector<float>(rows.begin() + i * 4, rows.begin() + i * 4 + 4), table_[keys[i]])
        << "key " << keys[i];
  }
}

TEST_F(JobFilesTest, TorchExportKeepsNewKeyRowsWithTheirAdapter) {
  // West trained rows for two keys the snapshot (keys 1..40) lacks; -1 as
  // int64 sorts first. East trained none.
  StatusOr<NewKeyRows> west =
      NewKeyRows::FromRows({41, ~uint64_t{0}}, {1, 2, 3, 4, 5, 6, 7, 8}, nullptr, 4);
  ASSERT_TRUE(west.ok()) << west.status().ToString();
  ASSERT_TRUE(SaveNewKeyRows(dir_ + "/out/adapters", "west", *west).ok());
  StatusOr<TorchExportReport> report = ExportTorchModel(spec_, dir_ + "/torch", {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->num_rows, 40);  // the shared table is the snapshot's alone
  EXPECT_EQ(report->num_new_rows, 2);
  StatusOr<embedding::SafetensorsFile> dense = embedding::ReadSafetensorsFile(report->files[0]);
  ASSERT_TRUE(dense.ok()) << dense.status().ToString();
  EXPECT_EQ(dense->tensors.count("adapters.0.new_rows.keys"), 0u);
  StatusOr<std::vector<uint64_t>> keys = dense->Keys("adapters.1.new_rows.keys");
  StatusOr<std::vector<float>> weight = dense->Floats("adapters.1.new_rows.weight");
  ASSERT_TRUE(keys.ok() && weight.ok());
  EXPECT_EQ(*keys, (std::vector<uint64_t>{~uint64_t{0}, 41}));
  EXPECT_EQ(*weight, (std::vector<float>{5, 6, 7, 8, 1, 2, 3, 4}));
  EXPECT_EQ(dense->tensors.at("adapters.1.new_rows.weight").shape,
            (std::vector<uint64_t>{2, 4}));
  // The config (a JSON string in the header's metadata, quotes escaped).
  std::string bytes;
  ASSERT_TRUE(ReadFileToString(report->files[0], &bytes).ok());
  EXPECT_NE(bytes.find(R"({\"name\":\"east\",\"new_rows\":0,)"), std::string::npos);
  EXPECT_NE(bytes.find(R"({\"name\":\"west\",\"new_rows\":2,)"), std::string::npos);

  // A row for a key the snapshot has means the rows belong to another
  // snapshot: refused, naming the file.
  StatusOr<NewKeyRows> stale = NewKeyRows::FromRows({7}, {1, 2, 3, 4}, nullptr, 4);
  ASSERT_TRUE(stale.ok());
  ASSERT_TRUE(SaveNewKeyRows(dir_ + "/out/adapters", "west", *stale).ok());
  const Status refused = ExportTorchModel(spec_, dir_ + "/torch2", {}).status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("west.rows"), std::string::npos) << refused.ToString();
}

TEST_F(JobFilesTest, AdaptersOnXAreScoredThereAndSaySo) {
  // The fixture's adapters are h-wide (6); as adapters on x (8 wide) they
  // do not fit, and scoring says so instead of mis-scoring.
  spec_.mutable_iak()->set_insertion("x");
  StatusOr<std::unique_ptr<JobModels>> models = LoadJobModels(spec_, {"east", "west"});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  EXPECT_TRUE((*models)->adapters_on_x);
  EXPECT_EQ((*models)->MakePredictor().status().code(), StatusCode::kInvalidArgument);
  // The v1 export records where the adapters sit.
  StatusOr<ExportReport> report = ExportJob(spec_, dir_ + "/export");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::string blob;
  ASSERT_TRUE(ReadFileToString(report->path, &blob).ok());
  StatusOr<SafetensorsFile> file = DecodeSafetensors(blob, report->path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->metadata.at("insertion"), "x");
}

TEST_F(JobFilesTest, AdaptersOffHAreRefusedNotMisScored) {
  // A tower adapter has h's width here; applied to h it would score without
  // an error, and wrongly.
  spec_.set_name("towers");
  spec_.mutable_iak()->set_insertion("tower");
  const Status exported = ExportJob(spec_, dir_ + "/export").status();
  EXPECT_EQ(exported.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(exported.message().find("--compare_iak_insertion=tower"), std::string::npos)
      << exported.ToString();
  EXPECT_EQ(ExportTorchModel(spec_, dir_ + "/torch", {}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(LoadJobModels(spec_, {"east", "west"}).status().code(),
            StatusCode::kFailedPrecondition);
  spec_.mutable_iak()->set_insertion("h");
  EXPECT_TRUE(LoadJobModels(spec_, {"east", "west"}).ok());
}

TEST_F(JobFilesTest, DomainMapScoresDataNumberedOtherwise) {
  StatusOr<std::unique_ptr<JobModels>> models = LoadJobModels(spec_, {"east", "west"});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  StatusOr<DomainPredictor> predictor = (*models)->MakePredictor();
  ASSERT_TRUE(predictor.ok());
  // The same samples, domains numbered east=0 west=1 and west=0 east=1.
  data::Dataset a;
  a.fields = {{"a"}, {"b"}};
  for (uint32_t s = 0; s < 10; ++s) {
    a.keys.push_back(1 + s);
    a.offsets.push_back(a.keys.size());
    a.offsets.push_back(a.keys.size());
    a.click.push_back(0);
    a.domain.push_back(static_cast<int32_t>(s % 2));
    a.timestamp.push_back(s);
  }
  data::Dataset b = a;
  for (int32_t& d : b.domain) d = 1 - d;
  const std::vector<int32_t> map{1, 0};
  data::SampleIds ids{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> pa(10), pb(10);
  ASSERT_TRUE(PredictSamples(a, ids, *(*models)->rows, PredictOptions{}, &*predictor, pa.data(),
                             nullptr)
                  .ok());
  PredictOptions mapped;
  mapped.domain_map = &map;
  ASSERT_TRUE(
      PredictSamples(b, ids, *(*models)->rows, mapped, &*predictor, pb.data(), nullptr).ok());
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa[0], pa[2]);  // other keys, other scores
}

}  // namespace iak::worker
