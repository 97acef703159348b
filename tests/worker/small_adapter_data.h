// Small data, snapshot and models for the tests of adapters that train
// per-key parameters (new-key rows, key biases).
#ifndef IAK_TESTS_WORKER_SMALL_ADAPTER_DATA_H_
#define IAK_TESTS_WORKER_SMALL_ADAPTER_DATA_H_

#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "model/base_model.h"
#include "model/iak_module.h"

namespace iak::worker::testing {

inline constexpr int kDim = 4;

// Two single-valued fields (user, item). Keys 1..3 and 101..102 are in the
// snapshot; 4, 5 (users) and 103 (item) are not. Key 4 occurs three times,
// 5 once, 103 twice.
inline data::Dataset SmallData() {
  data::Dataset d;
  d.fields = {{"user", false, data::Pooling::kSum}, {"item", false, data::Pooling::kSum}};
  const std::vector<std::pair<uint64_t, uint64_t>> samples{
      {1, 101}, {4, 101}, {4, 103}, {2, 102}, {4, 102}, {5, 103}, {3, 101}, {1, 102}};
  for (size_t s = 0; s < samples.size(); ++s) {
    d.keys.push_back(samples[s].first);
    d.offsets.push_back(d.keys.size());
    d.keys.push_back(samples[s].second);
    d.offsets.push_back(d.keys.size());
    d.click.push_back(s % 2 == 0 ? 1.0f : 0.0f);
    d.domain.push_back(0);
    d.timestamp.push_back(static_cast<int64_t>(s));
  }
  d.domain_names = {"d0"};
  return d;
}

inline std::unordered_map<uint64_t, std::vector<float>> Snapshot() {
  std::unordered_map<uint64_t, std::vector<float>> t;
  for (uint64_t key : {1, 2, 3}) t[key] = {0.1f * key, -0.2f, 0.3f, 0.05f * key};
  for (uint64_t key : {101, 102}) t[key] = {0.5f, 0.01f * key, -0.4f, 0.2f};
  return t;
}

inline std::vector<uint32_t> AllIds(const data::Dataset& d) {
  std::vector<uint32_t> ids(d.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<uint32_t>(i);
  return ids;
}

inline model::BaseModel SmallBase() {
  model::BaseModelConfig c;
  c.embedding_dim = kDim;
  c.num_fields = 2;
  c.bottom_hidden = {8, 6};
  c.tower_hidden = {4};
  model::BaseModel base(c);
  base.Init(3);
  return base;
}

// Pooled inputs x for `n` samples of `base`: x[i] = 0.3 cos(freq * i),
// smooth and different from value to value (for finite differences).
inline std::vector<float> WavyInputs(const model::BaseModel& base, int n, float freq) {
  std::vector<float> x(static_cast<size_t>(n) * base.config().input_dim());
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.3f * std::cos(freq * static_cast<float>(i));
  return x;
}

// An adapter of latent 3 and hidden layers of 5 on `input_dim` values.
inline model::IakConfig SmallAdapterConfig(int input_dim) {
  model::IakConfig config;
  config.input_dim = input_dim;
  config.latent_dim = 3;
  config.encoder_hidden = {5};
  config.decoder_hidden = {5};
  return config;
}

inline model::IakModule SmallAdapter(int input_dim, bool plain) {
  model::IakConfig config = SmallAdapterConfig(input_dim);
  config.plain_adapter = plain;
  model::IakModule adapter(config);
  adapter.Init(7);
  for (size_t i = 0; i < adapter.num_params(); ++i) {
    adapter.mutable_params()[i] += 0.05f * std::sin(static_cast<float>(i));
  }
  return adapter;
}

}  // namespace iak::worker::testing

#endif  // IAK_TESTS_WORKER_SMALL_ADAPTER_DATA_H_
