#include "worker/exporter.h"

#include "common/file_util.h"
#include "embedding/safetensors_file.h"
#include "embedding/snapshot_writer.h"
#include "model/embedding_table.h"
#include "worker/adapter_plan_file.h"
#include "worker/adapter_store.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace iak::worker {
namespace {

model::BaseModel MakeBase() {
  model::BaseModelConfig c;
  c.embedding_dim = 4;
  c.num_fields = 3;
  c.bottom_hidden = {8, 6};
  c.tower_hidden = {5};
  c.num_tasks = 2;
  model::BaseModel base(c);
  base.Init(7);
  return base;
}

model::IakModule MakeAdapter(uint64_t seed) {
  model::IakConfig c;
  c.input_dim = 6;
  c.latent_dim = 3;
  c.encoder_hidden = {4};
  c.decoder_hidden = {5};
  model::IakModule m(c);
  m.Init(seed);
  // Make the (zero-initialised) last decoder layer non-trivial too.
  for (size_t i = m.decoder_param_range().begin; i < m.num_params(); ++i) {
    m.mutable_params()[i] += 0.001f * static_cast<float>(i);
  }
  return m;
}

TEST(ExporterTest, BaseTensorsCoverEveryParameterInOrderWithLayerShapes) {
  model::BaseModel base = MakeBase();
  std::vector<ExportTensor> t = BaseModelTensors(base);
  // bottom: 12->8->6 (2 layers), 2 towers 6->5->1 (2 layers each): 6 layers.
  ASSERT_EQ(t.size(), 12u);
  EXPECT_EQ(t[0].name, "bottom.0.weight");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{12, 8}));
  EXPECT_EQ(t[1].name, "bottom.0.bias");
  EXPECT_EQ(t[1].shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(t[11].name, "tower.1.1.bias");
  EXPECT_EQ(t[10].shape, (std::vector<int64_t>{5, 1}));
  std::vector<float> flat;
  for (const ExportTensor& x : t) flat.insert(flat.end(), x.values.begin(), x.values.end());
  EXPECT_EQ(flat, base.params());
  // W is [in, out] row-major: element (r, c) of bottom.0.weight is params[r*8 + c].
  EXPECT_EQ(t[0].values[3 * 8 + 5], base.params()[3 * 8 + 5]);
}

TEST(ExporterTest, AdapterTensorsCoverEveryParameter) {
  model::IakModule a = MakeAdapter(3);
  std::vector<ExportTensor> t = AdapterTensors(a, "iak.2004-2007.");
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[0].name, "iak.2004-2007.encoder.0.weight");
  EXPECT_EQ(t[2].shape, (std::vector<int64_t>{4, 6}));  // 2k = 6 (mu, logvar)
  EXPECT_EQ(t[4].name, "iak.2004-2007.decoder.0.weight");
  EXPECT_EQ(t[4].shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(t[6].shape, (std::vector<int64_t>{5, 6}));
  std::vector<float> flat;
  for (const ExportTensor& x : t) flat.insert(flat.end(), x.values.begin(), x.values.end());
  EXPECT_EQ(flat, a.params());
}

TEST(ExporterTest, EncodedFileHasTheSafetensorsLayoutAndDecodesToExactFloats) {
  model::BaseModel base = MakeBase();
  std::vector<ExportTensor> tensors = BaseModelTensors(base);
  for (ExportTensor& x : AdapterTensors(MakeAdapter(5), "iak.d\"1.")) tensors.push_back(x);
  StatusOr<std::string> blob = EncodeSafetensors(tensors, {{"format", "iak-export-v1"}});
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();

  // Header length, little-endian, data 8-byte aligned.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>((*blob)[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  size_t total = 0;
  for (const ExportTensor& x : tensors) total += x.values.size() * 4;
  EXPECT_EQ(blob->size(), 8 + n + total);

  // The header is valid JSON with contiguous offsets.
  google::protobuf::Struct header;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(blob->substr(8, n), &header).ok());
  EXPECT_EQ(header.fields().at("__metadata__").struct_value().fields().at("format").string_value(),
            "iak-export-v1");
  const auto& w = header.fields().at("bottom.0.weight").struct_value().fields();
  EXPECT_EQ(w.at("dtype").string_value(), "F32");
  EXPECT_EQ(w.at("data_offsets").list_value().values(0).number_value(), 0);
  EXPECT_EQ(w.at("data_offsets").list_value().values(1).number_value(), 12 * 8 * 4);
  const auto& b = header.fields().at("bottom.0.bias").struct_value().fields();
  EXPECT_EQ(b.at("data_offsets").list_value().values(0).number_value(), 12 * 8 * 4);
  // Raw bytes of the first weight are the float's bytes.
  float first = 0;
  std::memcpy(&first, blob->data() + 8 + n, 4);
  EXPECT_EQ(first, base.params()[0]);

  StatusOr<SafetensorsFile> file = DecodeSafetensors(*blob, "mem");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(file->tensors[i].name, tensors[i].name);
    EXPECT_EQ(file->tensors[i].shape, tensors[i].shape);
    EXPECT_EQ(file->tensors[i].values, tensors[i].values);  // bit-exact
  }
  EXPECT_EQ(file->metadata.at("format"), "iak-export-v1");

  // The snapshot importer's independent reader agrees (it checks overlaps).
  StatusOr<embedding::SafetensorsFile> other = embedding::ParseSafetensors(*blob, "mem");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->tensors.size(), tensors.size());
  for (const ExportTensor& x : tensors) {
    StatusOr<std::vector<float>> v = other->Floats(x.name);
    ASSERT_TRUE(v.ok()) << x.name;
    EXPECT_EQ(*v, x.values) << x.name;
  }
}

TEST(ExporterTest, RefusesBadInputWithClearErrors) {
  std::vector<ExportTensor> dup{{"a", {1}, {1.0f}}, {"a", {1}, {2.0f}}};
  EXPECT_FALSE(EncodeSafetensors(dup, {}).ok());
  std::vector<ExportTensor> wrong{{"a", {2, 2}, {1.0f}}};
  EXPECT_EQ(EncodeSafetensors(wrong, {}).status().code(), StatusCode::kInvalidArgument);

  StatusOr<std::string> blob = EncodeSafetensors({{"a", {2}, {1.0f, 2.0f}}}, {});
  ASSERT_TRUE(blob.ok());
  StatusOr<SafetensorsFile> cut = DecodeSafetensors(blob->substr(0, blob->size() - 1), "x.st");
  EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find("x.st"), std::string::npos);
  EXPECT_EQ(DecodeSafetensors("abc", "y").status().code(), StatusCode::kDataLoss);
  std::string garbage = *blob;
  garbage[9] = '#';
  EXPECT_EQ(DecodeSafetensors(garbage, "z").status().code(), StatusCode::kDataLoss);
}

TEST(ExporterTest, ExportJobWithoutAdaptersSaysToRunTheJob) {
  proto::JobSpec spec;
  spec.set_model_dir("/nonexistent/model");
  spec.set_output_dir("/nonexistent/out");
  EXPECT_FALSE(ExportJob(spec, "/tmp/unused").ok());
}

}  // namespace
// A planned job (domain_plan.tsv): an own adapter, a shared adapter serving
// two cold domains, and a base-model domain. Each adapter is exported once and
// the metadata says which domains use which adapter.
TEST(ExporterTest, ExportJobFollowsTheDomainPlanFile) {
  const std::string dir = ::testing::TempDir() + "/iak_export_plan_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  model::BaseModelConfig bc;
  bc.embedding_dim = 2;
  bc.num_fields = 3;
  bc.bottom_hidden = {8, 6};
  bc.tower_hidden = {5};
  model::BaseModel base(bc);
  base.Init(11);
  model::EmbeddingTable table;
  for (uint64_t k = 1; k <= 8; ++k) table[k] = {0.1f * k, -0.2f * k};
  embedding::SnapshotContents contents;
  contents.options.embedding_dim = 2;
  contents.options.num_shards = 1;
  contents.table = &table;
  contents.options.dense_blob = base.Serialize();
  ASSERT_TRUE(embedding::WriteModelDirectory(dir + "/model", contents).ok());
  const std::string adapters = dir + "/out/adapters";
  const model::IakModule own = MakeAdapter(21);
  const model::IakModule shared = MakeAdapter(22);
  ASSERT_TRUE(SaveAdapter(adapters, "hot", own).ok());
  ASSERT_TRUE(SaveAdapter(adapters, "shared:c1+c2", shared).ok());
  // Hand-written, as rank 0 writes it (adapter_plan_file.h).
  ASSERT_TRUE(WriteFileAtomically(
                  AdapterPlanPath(adapters),
                  "# domain\tmode\tadapter\tbatch\tlr_scale\tsteps\tsamples\treason\n"
                  "hot\town\thot\t32\t1.000000\t10\t320\tn=5000\n"
                  "c2\tshared\tshared:c1+c2\t16\t0.700000\t10\t160\tcold: shared\n"
                  "c1\tshared\tshared:c1+c2\t16\t0.700000\t10\t160\tcold: shared\n"
                  "tiny\tbase\t-\t0\t1.000000\t0\t0\t3 training samples < 200: base model\n")
                  .ok());
  proto::JobSpec spec;
  spec.set_model_dir(dir + "/model");
  spec.set_output_dir(dir + "/out");

  StatusOr<ExportReport> report = ExportJob(spec, dir + "/export");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->domains, (std::vector<std::string>{"hot", "shared:c1+c2"}));
  ASSERT_EQ(report->domain_adapters.size(), 4u);
  EXPECT_EQ(report->domain_adapters[0].domain, "c1");
  EXPECT_EQ(report->domain_adapters[3].mode, "base");
  std::string blob;
  ASSERT_TRUE(ReadFileToString(report->path, &blob).ok());
  StatusOr<SafetensorsFile> file = DecodeSafetensors(blob, report->path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  // Base (2 bottom + 2 tower layers) + 2 adapters x 4 layers, 2 tensors each.
  EXPECT_EQ(file->tensors.size(), 8u + 16u);
  EXPECT_EQ(report->num_tensors, file->tensors.size());
  std::map<std::string, std::vector<float>> by_name;
  for (const ExportTensor& t : file->tensors) by_name[t.name] = t.values;
  for (const ExportTensor& t : AdapterTensors(shared, "iak.shared:c1+c2.")) {
    ASSERT_TRUE(by_name.count(t.name)) << t.name;
    EXPECT_EQ(by_name[t.name], t.values) << t.name;  // bit-exact
  }
  for (const ExportTensor& t : AdapterTensors(own, "iak.hot.")) {
    ASSERT_TRUE(by_name.count(t.name)) << t.name;
    EXPECT_EQ(by_name[t.name], t.values) << t.name;
  }
  for (const auto& [name, values] : by_name) {
    EXPECT_EQ(name.find("iak.c1."), std::string::npos) << "no per-domain copy: " << name;
    EXPECT_EQ(name.find("iak.tiny."), std::string::npos) << "base domain has no adapter: " << name;
  }
  EXPECT_EQ(file->metadata.at("adapters"), "[\"hot\",\"shared:c1+c2\"]");
  EXPECT_EQ(file->metadata.at("domains"), file->metadata.at("adapters"));
  EXPECT_EQ(file->metadata.at("domain_adapters"),
            "{\"c1\":\"shared:c1+c2\",\"c2\":\"shared:c1+c2\",\"hot\":\"hot\",\"tiny\":null}");
  EXPECT_EQ(file->metadata.count("iak.shared:c1+c2"), 1u);
  EXPECT_EQ(file->metadata.count("iak.c1"), 0u);

  // A plan naming an adapter file that is not there: a clear error naming it.
  std::filesystem::remove(AdapterPath(adapters, "shared:c1+c2"));
  StatusOr<ExportReport> missing = ExportJob(spec, dir + "/export2");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("shared:c1+c2"), std::string::npos)
      << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("domain_plan.tsv"), std::string::npos);
  // A malformed plan row: refused naming the file and line.
  ASSERT_TRUE(WriteFileAtomically(AdapterPlanPath(adapters), "hot\town\n").ok());
  StatusOr<ExportReport> bad = ExportJob(spec, dir + "/export3");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("domain_plan.tsv:1"), std::string::npos);
  std::filesystem::remove_all(dir);
}

namespace {

// A diverged run (learning_rate 1e30) left adapters full of NaN and the job
// "succeeded": SaveAdapter now refuses them, naming the domain, and writes
// nothing.
TEST(ExporterTest, NonFiniteAdapterIsNotWrittenAndTheErrorNamesTheDomain) {
  const std::string dir = ::testing::TempDir() + "/iak_nan_adapter_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  model::IakModule a = MakeAdapter(5);
  ASSERT_TRUE(SaveAdapter(dir, "fine", a).ok());
  a.mutable_params()[3] = std::numeric_limits<float>::quiet_NaN();
  Status saved = SaveAdapter(dir, "2012-2016", a);
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(saved.message().find("adapter of domain 2012-2016"), std::string::npos) << saved;
  EXPECT_NE(saved.message().find("diverged"), std::string::npos) << saved;
  EXPECT_FALSE(std::filesystem::exists(AdapterPath(dir, "2012-2016")));
  EXPECT_TRUE(LoadAdapter(dir, "fine").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iak::worker
