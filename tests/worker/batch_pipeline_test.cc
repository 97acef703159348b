#include "worker/batch_pipeline.h"

#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "common/keys.h"
#include "data/batcher.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/iak_module.h"
#include "model/parallel_step.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/resolved_rows.h"
#include "worker/row_source.h"

namespace iak::worker {
namespace {

constexpr int kFields = 4;
constexpr int kDim = 8;

struct World {
  data::Dataset data;
  std::unordered_map<uint64_t, std::vector<float>> table;
  std::unique_ptr<model::BaseModel> base;
};

World MakeWorld(size_t samples) {
  World w;
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> value(0, 49);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (int f = 0; f < kFields; ++f) w.data.fields.push_back({"f" + std::to_string(f), false, data::Pooling::kSum});
  for (size_t s = 0; s < samples; ++s) {
    for (int f = 0; f < kFields; ++f) {
      w.data.keys.push_back(FeatureKey(f, value(rng)));
      w.data.offsets.push_back(w.data.keys.size());
    }
    w.data.click.push_back(s % 3 == 0 ? 1.0f : 0.0f);
    w.data.conversion.push_back(s % 2 == 0 ? 1.0f : 0.0f);
  }
  for (int f = 0; f < kFields; ++f) {
    for (int v = 0; v < 50; ++v) {
      auto& row = w.table[FeatureKey(f, v)];
      for (int j = 0; j < kDim; ++j) row.push_back(normal(rng));
    }
  }
  model::BaseModelConfig config;
  config.embedding_dim = kDim;
  config.num_fields = kFields;
  config.bottom_hidden = {32, 16};
  config.tower_hidden = {8};
  config.num_tasks = 2;
  w.base = std::make_unique<model::BaseModel>(config);
  w.base->Init(12);
  return w;
}

model::IakConfig Adapter() {
  model::IakConfig c;
  c.input_dim = 16;
  c.latent_dim = 4;
  c.encoder_hidden = {8};
  c.decoder_hidden = {8};
  return c;
}

// Counts fetches; fails the fetch numbered fail_at (0-based) when >= 0.
class CountingSource : public RowSource {
 public:
  CountingSource(RowSource* inner, int fail_at = -1) : inner_(inner), fail_at_(fail_at) {}
  Status Fetch(const uint64_t* keys, size_t n, float* rows) override {
    if (fetches_++ == fail_at_) return UnavailableError("ps-0 at tcp://x: no reply");
    return inner_->Fetch(keys, n, rows);
  }
  int fetches() const { return fetches_; }

 private:
  RowSource* inner_;
  int fail_at_;
  int fetches_ = 0;
};

BatchPipelineOptions Options(const World& w) {
  BatchPipelineOptions o;
  o.input_dim = kFields * kDim;
  o.embedding_dim = kDim;
  o.h_dim = w.base->config().h_dim();
  o.latent_dim = Adapter().latent_dim;
  o.noise_seed = 5;
  return o;
}

struct TrainResult {
  std::vector<float> params;
  std::vector<float> losses;
  int fetches = 0;
  int cached_batches = 0;
};

// Shuffled epochs of 64 (the last batch of each short), as the worker runs them.
// With `resolve`, batches pool by rows resolved once (ResolvedRows) instead
// of pulling through `source` (which counts fetches and cannot resolve).
TrainResult Train(const World& w, bool use_cache, int epochs, bool resolve = false) {
  MemoryRowSource memory(w.table, kDim);
  CountingSource source(&memory);
  std::unique_ptr<ResolvedRows> resolved;
  if (resolve) resolved = ResolvedRows::Make(&w.data, &memory, kDim);
  EXPECT_EQ(resolve, resolved != nullptr);
  std::unique_ptr<FrozenPrefixCache> cache;
  if (use_cache) {
    FrozenPrefixCacheOptions options;
    options.width = w.base->config().h_dim();
    options.num_samples = w.data.size();
    options.memory_budget_bytes = 100 * 16 * sizeof(float);  // the rest spills
    options.spill_path = ::testing::TempDir() + "pipeline-cache-" + std::to_string(::getpid());
    cache = std::move(FrozenPrefixCache::Create(options)).value();
  }
  data::SampleIds all(w.data.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint32_t>(i);
  data::BatcherOptions batch_options;
  batch_options.batch_size = 64;
  batch_options.seed = 9;
  data::Batcher batcher(all, batch_options);
  const int steps = epochs * static_cast<int>(batcher.batches_per_epoch());
  int planned = 0;
  TrainResult result;
  model::IakModule iak(Adapter());
  iak.Init(3);
  model::Adam adam(iak.num_params(), model::AdamOptions());
  model::ParallelFineTuneStep step(2);
  std::vector<float> h;
  {
    BatchPipeline pipeline(Options(w), &w.data, &source, cache.get(),
                           [&](int* tag, std::vector<uint32_t>* ids) {
                             if (planned++ >= steps) return false;
                             if (!batcher.Next(ids)) {
                               EXPECT_TRUE(batcher.Next(ids));
                             }
                             *tag = 0;
                             return true;
                           },
                           resolved.get());
    for (int s = 0;; ++s) {
      StatusOr<PreparedBatch*> next = pipeline.Next();
      EXPECT_TRUE(next.ok()) << next.status();
      if (!next.ok() || *next == nullptr) break;
      PreparedBatch* b = *next;
      EXPECT_EQ(b->index, s);
      const int n = b->size();
      // The noise of batch s: std::normal_distribution<float> over a
      // std::mt19937_64 seeded by (noise_seed, s), whatever engine drew it.
      std::seed_seq seed{5u, 0u, static_cast<uint32_t>(s), 0u};
      std::mt19937_64 standard(seed);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> eps(static_cast<size_t>(n) * Adapter().latent_dim);
      for (float& e : eps) e = normal(standard);
      EXPECT_EQ(b->eps, eps) << "batch " << s;
      const float* hp = b->h.data();
      if (b->from_cache) {
        ++result.cached_batches;
      } else {
        h.resize(static_cast<size_t>(n) * 16);
        step.ForwardBottom(*w.base, b->x.data(), n, h.data());
        if (cache) {
          EXPECT_TRUE(cache->Put(b->ids.data(), n, h.data()).ok());
        }
        hp = h.data();
      }
      const model::StepStats stats =
          step.RunOnH(*w.base, &iak, model::IakPhase::kCompression, 0.1f, hp, n, b->click.data(),
                      b->conversion.data(), b->eps.data());
      result.losses.push_back(stats.loss);
      pipeline.Release(b);
      adam.Step(iak.mutable_params(), iak.grads().data());
    }
  }
  result.params = iak.params();
  result.fetches = source.fetches();
  return result;
}

// The frozen-prefix cache is exact: three shuffled epochs with it give the
// same numbers, bit for bit, as recomputing every batch, while epochs 2 and
// 3 fetch no rows at all.
TEST(BatchPipelineTest, FrozenPrefixCacheGivesExactlyTheNumbersOfRecomputing) {
  const World w = MakeWorld(300);  // 5 batches per epoch, the last of 44
  const TrainResult recomputed = Train(w, /*use_cache=*/false, 3);
  const TrainResult cached = Train(w, /*use_cache=*/true, 3);
  ASSERT_EQ(recomputed.losses.size(), 15u);
  EXPECT_EQ(cached.losses, recomputed.losses);
  EXPECT_EQ(cached.params, recomputed.params);
  EXPECT_EQ(recomputed.fetches, 15);
  EXPECT_EQ(recomputed.cached_batches, 0);
  // Epoch 1 fetches everything; after it batches come from the cache. The
  // pipeline runs up to `depth` (2) batches ahead, so epoch 2's first two
  // may be prepared before epoch 1's last ones were stored: those are
  // recomputed (still exact), hence at least 10 - 2 cached batches.
  EXPECT_GE(cached.cached_batches, 8);
  EXPECT_EQ(cached.fetches, 15 - cached.cached_batches);
  EXPECT_NE(cached.params, std::vector<float>(cached.params.size(), 0.0f));
}

// A local table's rows resolved once give the numbers of pulling every
// batch, bit for bit, with no fetch at all.
TEST(BatchPipelineTest, RowsResolvedOnceGiveExactlyTheNumbersOfPullingEveryBatch) {
  const World w = MakeWorld(300);
  const TrainResult pulled = Train(w, /*use_cache=*/false, 3);
  const TrainResult resolved = Train(w, /*use_cache=*/false, 3, /*resolve=*/true);
  ASSERT_EQ(pulled.losses.size(), 15u);
  EXPECT_EQ(resolved.losses, pulled.losses);
  EXPECT_EQ(resolved.params, pulled.params);
  EXPECT_EQ(pulled.fetches, 15);
  EXPECT_EQ(resolved.fetches, 0);
}

TEST(BatchPipelineTest, AFailedFetchStopsThePipelineWithItsBatchNamed) {
  const World w = MakeWorld(200);
  MemoryRowSource memory(w.table, kDim);
  CountingSource source(&memory, /*fail_at=*/2);
  uint32_t next_id = 0;
  BatchPipeline pipeline(Options(w), &w.data, &source, nullptr,
                         [&](int* tag, std::vector<uint32_t>* ids) {
                           ids->assign({next_id, next_id + 1});
                           next_id += 2;
                           *tag = 7;
                           return true;
                         });
  for (int i = 0; i < 2; ++i) {
    StatusOr<PreparedBatch*> b = pipeline.Next();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ((*b)->tag, 7);
    EXPECT_EQ((*b)->ids, std::vector<uint32_t>({2u * i, 2u * i + 1}));
    EXPECT_EQ((*b)->click[0], w.data.click[2 * i]);
    pipeline.Release(*b);
  }
  StatusOr<PreparedBatch*> failed = pipeline.Next();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.status().ToString().find("batch 2"), std::string::npos) << failed.status();
  EXPECT_NE(failed.status().ToString().find("ps-0"), std::string::npos);
}

}  // namespace
}  // namespace iak::worker
