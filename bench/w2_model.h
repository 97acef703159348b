// The W2 model of docs/BENCHMARKS (the fine-tuning step benchmark), shared by
// the CPU and GPU step benchmarks so both always measure the same thing:
// 26 single-valued fields, embedding dim 16, bottom MLP 416-256-128 (frozen),
// IAK encoder 128-64-(2x32) and decoder 32-64-128, ESMM towers 128-64-1.
#ifndef IAK_BENCH_W2_MODEL_H_
#define IAK_BENCH_W2_MODEL_H_

#include "model/base_model.h"
#include "model/iak_module.h"

namespace iak::bench {

inline constexpr int kW2Fields = 26;
inline constexpr int kW2Dim = 16;

inline model::BaseModelConfig W2BaseConfig() {
  model::BaseModelConfig c;
  c.embedding_dim = kW2Dim;
  c.num_fields = kW2Fields;
  c.bottom_hidden = {256, 128};
  c.tower_hidden = {64};
  c.num_tasks = 2;
  return c;
}

inline model::IakConfig W2IakConfig() {
  model::IakConfig c;
  c.input_dim = 128;
  c.latent_dim = 32;
  c.encoder_hidden = {64};
  c.decoder_hidden = {64};
  return c;
}

}  // namespace iak::bench

#endif  // IAK_BENCH_W2_MODEL_H_
