#include "worker/exporter.h"

#include "embedding/safetensors_file.h"

#include <gtest/gtest.h>

#include <cstring>

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
}  // namespace iak::worker
