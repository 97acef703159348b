#include <random>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "cuda/cuda_fine_tune_step.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "tests/cuda/gpu_test_util.h"

namespace iak::cuda {
namespace {

constexpr int kDim = 8;

class MapLookup : public model::RowLookup {
 public:
  const float* Find(uint64_t key) const override {
    auto it = rows.find(key);
    return it == rows.end() ? nullptr : it->second.data();
  }
  std::unordered_map<uint64_t, std::vector<float>> rows;
};

// Field 0 single-valued (sum), field 1 multi-valued mean with 0..4 keys,
// field 2 multi-valued sum; one value in ten has no row in the table.
data::Dataset MakeData(int samples, MapLookup* table, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> value(0, 49);
  std::uniform_int_distribution<int> count(0, 4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  data::Dataset d;
  d.fields = {{"user", false, data::Pooling::kSum},
              {"genres", true, data::Pooling::kMean},
              {"tags", true, data::Pooling::kSum}};
  for (int s = 0; s < samples; ++s) {
    for (int f = 0; f < 3; ++f) {
      const int n = f == 0 ? 1 : count(rng);
      for (int i = 0; i < n; ++i) d.keys.push_back(FeatureKey(f, value(rng)));
      d.offsets.push_back(d.keys.size());
    }
    d.click.push_back(s % 3 == 0 ? 1.0f : 0.0f);
    d.conversion.push_back(s % 2 == 0 ? 1.0f : 0.0f);
  }
  for (int f = 0; f < 3; ++f) {
    for (int v = 0; v < 50; ++v) {
      if (v % 10 == 7) continue;  // missing from the table
      std::vector<float> row(kDim);
      for (float& x : row) x = normal(rng);
      table->rows[FeatureKey(f, v)] = row;
    }
  }
  return d;
}

model::BaseModelConfig BaseConfig() {
  model::BaseModelConfig c;
  c.embedding_dim = kDim;
  c.num_fields = 3;
  c.bottom_hidden = {32, 16};
  c.tower_hidden = {8};
  c.num_tasks = 2;
  return c;
}

model::IakConfig AdapterConfig() {
  model::IakConfig c;
  c.input_dim = 16;
  c.latent_dim = 4;
  c.encoder_hidden = {12};
  c.decoder_hidden = {12};
  return c;
}

TEST(CudaPoolingTest, GatherAndPoolEqualTheCpuExactly) {
  IAK_SKIP_WITHOUT_GPU();
  MapLookup table;
  const data::Dataset d = MakeData(200, &table, 7);
  model::BaseModel base(BaseConfig());
  base.Init(8);
  CudaStepOptions options;
  options.max_batch = 64;
  auto step = CudaFineTuneStep::Create(base, AdapterConfig(), options);
  ASSERT_TRUE(step.ok()) << step.status();
  // Batches in an order with repeats, so staging is reused and keys repeat.
  const std::vector<int> sizes = {64, 17, 64, 1};
  uint32_t next = 0;
  for (int batch : sizes) {
    std::vector<uint32_t> ids;
    for (int r = 0; r < batch; ++r) ids.push_back((next++ * 37) % d.size());
    std::vector<float> cpu(static_cast<size_t>(batch) * 3 * kDim);
    std::vector<float> gpu(cpu.size(), -1.0f);
    model::PoolBatch(d, ids.data(), batch, kDim, table, cpu.data());
    ASSERT_TRUE((*step)->Pool(d, ids.data(), batch, table).ok());
    ASSERT_TRUE((*step)->DownloadX(batch, gpu.data()).ok());
    // Same additions in the same order, then the same scaling: bit-equal.
    EXPECT_EQ(gpu, cpu) << "batch of " << batch;
  }
}

TEST(CudaPoolingTest, StepOnPooledRowsMatchesCpu) {
  IAK_SKIP_WITHOUT_GPU();
  MapLookup table;
  const data::Dataset d = MakeData(100, &table, 9);
  model::BaseModel base(BaseConfig());
  base.Init(10);
  model::IakModule cpu_iak(AdapterConfig());
  cpu_iak.Init(11);
  std::mt19937_64 init(12);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (size_t i = 0; i < cpu_iak.num_params(); ++i) cpu_iak.mutable_params()[i] = normal(init);
  model::IakModule gpu_iak = cpu_iak;

  const int batch = 50;
  std::vector<uint32_t> ids;
  std::vector<float> click, conversion;
  for (int r = 0; r < batch; ++r) {
    ids.push_back(2 * r);
    click.push_back(d.click[2 * r]);
    conversion.push_back(d.conversion[2 * r]);
  }
  std::vector<float> x(static_cast<size_t>(batch) * 3 * kDim);
  model::PoolBatch(d, ids.data(), batch, kDim, table, x.data());
  std::mt19937_64 cpu_rng(13), gpu_rng(13);
  model::FineTuneStep cpu_step;
  const auto cpu = cpu_step.Run(base, &cpu_iak, model::IakPhase::kCompression, 0.5f, x.data(),
                                batch, click.data(), conversion.data(), &cpu_rng);

  CudaStepOptions options;
  options.max_batch = batch;
  auto step = CudaFineTuneStep::Create(base, AdapterConfig(), options);
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_TRUE((*step)->Pool(d, ids.data(), batch, table).ok());
  auto gpu = (*step)->RunPooled(&gpu_iak, model::IakPhase::kCompression, 0.5f, batch,
                                click.data(), conversion.data(), &gpu_rng);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_NEAR(gpu->loss, cpu.loss, 1e-5 * std::abs(cpu.loss));
  testing::ExpectVectorsNear(gpu_iak.grads(), cpu_iak.grads(), "IAK grads");
}

TEST(CudaPoolingTest, DataOfAnotherShapeIsRejected) {
  IAK_SKIP_WITHOUT_GPU();
  MapLookup table;
  data::Dataset d = MakeData(10, &table, 14);
  d.fields.pop_back();  // two fields where the model has three
  model::BaseModel base(BaseConfig());
  auto step = CudaFineTuneStep::Create(base, AdapterConfig(), CudaStepOptions());
  ASSERT_TRUE(step.ok()) << step.status();
  const std::vector<uint32_t> ids = {0, 1};
  const Status s = (*step)->Pool(d, ids.data(), 2, table);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace iak::cuda
