// `iak bench predict`: parallel inference with domain activation
// (worker::DomainPredictor) against scoring each domain separately.
//
// Model: the W2 shape of docs/BENCHMARKS.md (26 fields x dim 16, bottom MLP
// 416-256-128, IAK encoder 128-64-(2x32) and decoder 32-64-128 per domain,
// ESMM towers 128-64-1), --predict_domains adapters (each with a non-zero,
// random decoder). Inputs are pooled embeddings drawn at random (pooling costs
// the same both ways, so it is left out); each batch of --predict_batch rows
// has domains drawn uniformly, i.e. fully mixed.
//
//   mixed:      ScoreMixed: bottom and towers once per batch, each domain's
//               adapter on its rows.
//   per-domain: ScorePerDomain: the batch split by domain and each part
//               scored on its own (bottom + adapter + towers per domain),
//               as a caller without domain activation would.
//
// Prints samples/s both ways (medians over --predict_repeats) and whether the
// two score vectors are bit-identical; the last line is one JSON object.
#include <gflags/gflags.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "bench/bench_limits.h"
#include "bench/bench_stats.h"
#include "data/synth.h"
#include "model/base_model.h"
#include "model/iak_module.h"
#include "worker/domain_predictor.h"

DEFINE_int32(predict_domains, 8, "predict bench: domains (one adapter each)");
DEFINE_int32(predict_batch, 1024, "predict: samples per inference batch");
DEFINE_int32(predict_batches, 64, "predict bench: batches per timed repeat");
DEFINE_int32(predict_repeats, 5, "predict bench: timed repeats (the median is reported)");

namespace iak::bench {
int RunPredictBench(int, char**) {
  if (FLAGS_predict_domains > data::kMaxSynthDomains ||
      static_cast<int64_t>(FLAGS_predict_batch) * std::max(1, FLAGS_predict_batches) >
          kMaxBenchSamples) {
    std::fprintf(stderr,
                 "iak bench predict: --predict_domains must be at most %d and --predict_batch x "
                 "--predict_batches at most %lld samples, got %d and %d x %d\n",
                 data::kMaxSynthDomains, static_cast<long long>(kMaxBenchSamples),
                 FLAGS_predict_domains, FLAGS_predict_batch, FLAGS_predict_batches);
    return 2;
  }
  const int domains = std::max(1, FLAGS_predict_domains);
  const int batch = std::max(1, FLAGS_predict_batch);
  const int batches = std::max(1, FLAGS_predict_batches);
  model::BaseModelConfig bc;
  bc.embedding_dim = 16;
  bc.num_fields = 26;
  bc.bottom_hidden = {256, 128};
  bc.tower_hidden = {64};
  bc.num_tasks = 2;
  model::BaseModel base(bc);
  base.Init(1);
  model::IakConfig ic;
  ic.input_dim = 128;
  ic.latent_dim = 32;
  ic.encoder_hidden = {64};
  ic.decoder_hidden = {64};
  std::vector<std::unique_ptr<model::IakModule>> adapters;
  std::vector<const model::IakModule*> ptrs;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int d = 0; d < domains; ++d) {
    adapters.push_back(std::make_unique<model::IakModule>(ic));
    adapters.back()->Init(100 + d);
    for (size_t i = adapters.back()->decoder_param_range().begin; i < adapters.back()->num_params();
         ++i) {
      adapters.back()->mutable_params()[i] += 0.05f * g(rng);
    }
    ptrs.push_back(adapters.back().get());
  }
  StatusOr<worker::DomainPredictor> predictor = worker::DomainPredictor::Create(&base, ptrs);
  if (!predictor.ok()) {
    std::fprintf(stderr, "predict bench: %s\n", predictor.status().ToString().c_str());
    return 1;
  }
  const size_t n = static_cast<size_t>(batch) * batches;
  std::vector<float> x(n * bc.input_dim());
  for (float& v : x) v = g(rng);
  std::vector<int32_t> domain(n);
  for (int32_t& d : domain) d = static_cast<int32_t>(rng() % domains);
  std::vector<float> ctr_mixed(n), ctcvr_mixed(n), ctr_per(n), ctcvr_per(n);

  auto run = [&](bool mixed) {
    const auto start = std::chrono::steady_clock::now();
    for (int b = 0; b < batches; ++b) {
      const size_t off = static_cast<size_t>(b) * batch;
      const float* xb = x.data() + off * bc.input_dim();
      Status s = mixed ? predictor->ScoreMixed(xb, domain.data() + off, batch,
                                               ctr_mixed.data() + off, ctcvr_mixed.data() + off)
                       : predictor->ScorePerDomain(xb, domain.data() + off, batch,
                                                   ctr_per.data() + off, ctcvr_per.data() + off);
      if (!s.ok()) std::fprintf(stderr, "predict bench: %s\n", s.ToString().c_str());
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return n / secs;
  };
  run(true);  // warm-up (buffers, BLAS threads)
  run(false);
  std::vector<double> mixed_rates, per_rates;
  for (int r = 0; r < std::max(1, FLAGS_predict_repeats); ++r) {
    mixed_rates.push_back(run(true));
    per_rates.push_back(run(false));
  }
  const bool identical = ctr_mixed == ctr_per && ctcvr_mixed == ctcvr_per;
  double max_diff = 0;
  for (size_t i = 0; i < n; ++i) {
    max_diff = std::max<double>(max_diff, std::abs(ctr_mixed[i] - ctr_per[i]));
    max_diff = std::max<double>(max_diff, std::abs(ctcvr_mixed[i] - ctcvr_per[i]));
  }
  const double mixed = Median(mixed_rates);
  const double per = Median(per_rates);
  std::printf("predict bench: W2 shape, %d domains, batch %d, %d batches x %d repeats\n", domains,
              batch, batches, FLAGS_predict_repeats);
  std::printf("  mixed batch (domain activation): %12.0f samples/s\n", mixed);
  std::printf("  each domain separately:          %12.0f samples/s\n", per);
  std::printf("  speed-up %.2fx; scores bit-identical: %s (max |difference| %.3g)\n",
              mixed / per, identical ? "yes" : "no", max_diff);
  std::printf(
      "{\"bench\":\"predict\",\"domains\":%d,\"batch\":%d,\"mixed_samples_per_s\":%.0f,"
      "\"per_domain_samples_per_s\":%.0f,\"speedup\":%.3f,\"identical\":%s,\"max_abs_diff\":%.3g}\n",
      domains, batch, mixed, per, mixed / per, identical ? "true" : "false", max_diff);
  return identical ? 0 : 1;
}

}  // namespace iak::bench
