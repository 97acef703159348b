// MethodRunner: trains every fine-tuning method on the same data in one
// process, with the pre-trained embedding table read locally, and reports
// quality and cost side by side (docs/results.md, `iak compare`).
//
// Methods (one model per later period, i.e. per fine-tuned domain):
//   frozen       the pre-trained base, no tuning;
//   full         full fine-tuning: the embedding rows a domain touches are
//                copied into a local overlay and trained with sparse Adagrad
//                (keys the snapshot lacks start as zero rows), plus Adam on
//                all dense parameters;
//   dense        dense-only fine-tuning: Adam on the dense parameters,
//                embeddings frozen;
//   lora         LoRA of rank r on every dense layer (model/lora.h);
//   plain        a bottleneck adapter on h (IakConfig::plain_adapter);
//   iak          IAK: compression (encoder + decoder, beta_c * KL), then
//                matching (decoder only, beta_m).
// Every trained method runs the same number of epochs over the domain's
// training split with the same seed. After each epoch the validation AUC is
// measured; the reported test AUC is the one of the epoch with the best
// validation AUC (the test split never chooses anything).
//
// Batch size: full, dense and LoRA use batch_size for every domain. The plain
// adapter and IAK follow a DomainPlan (worker/domain_plan.h) when
// dynamic_batches is on (the default): per-domain batch and learning rate
// from the domain's training sample count, and cold domains served by one
// shared adapter or by the base model; each result row says which and why.
//
// Quality: CTR-AUC on every domain; CTCVR-AUC (score pCTR * pCVR, label
// click AND conversion) too when the data has conversion labels and the base
// model has two tasks (ESMM).
//
// Cost per method and domain: wall time per training epoch (measured), and
// the bytes a cluster run with `network_workers` data-parallel workers would
// move per epoch, COMPUTED (not measured) from the actual batches: each
// worker takes a strided share of every batch and pulls the rows of its
// share's unique keys (8-byte key + dim x 4-byte row each); full fine-tuning
// pushes a gradient row for each of them too (adapters with the prefix cache
// pull in their first epoch only); every step ring-all-reduces the
// trainable dense/adapter parameters updated in that step
// (2(N-1)/N x params x 4 bytes per worker, times N workers). Checkpoint
// size = trainable values + optimizer state.
//
// Thread-safety: RunMethods is reentrant; its inputs are only read.
#ifndef IAK_WORKER_METHOD_RUNNER_H_
#define IAK_WORKER_METHOD_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/base_model.h"
#include "model/embedding_pooling.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/lora.h"
#include "model/mlp.h"
#include "worker/domain_plan.h"
#include "worker/job_data.h"

namespace iak::worker {

enum class Method { kFrozen, kFull, kDense, kLora, kPlain, kIak };

// Where IAK's adapter sits, for `iak compare` experiments only (the cluster
// worker always uses h):
//   kH  on h, the bottom MLP's output, before the towers (the default);
//   kX  on the pooled embedding input x, residual (x' = x + delta(x)), before
//       the frozen bottom; trained through the bottom's input gradient. The
//       frozen-prefix cache then keeps the pooled x per sample (exact: the
//       embeddings are frozen), not h, since the bottom sees the adapted x.
//   kTower on the first hidden layer (post-ReLU) of the CTR tower (task 0),
//       residual, before the rest of that tower; other towers see h
//       unchanged. Needs a base with tower_hidden non-empty. The tower's
//       layers are re-bound as two Mlps over the base's flat parameters
//       (model/ unchanged); the frozen-prefix cache keeps h as for kH.
enum class AdapterInsertion { kH, kX, kTower };

const char* AdapterInsertionName(AdapterInsertion insertion);
// InvalidArgument listing the valid names.
[[nodiscard]] StatusOr<AdapterInsertion> ParseAdapterInsertion(const std::string& name);

// One training step of an adapter on the pooled input x (AdapterInsertion::kX):
//   x' = x + adapter(x) -> frozen bottom -> frozen towers -> task loss ->
//   dh through the towers -> dx' through the bottom (input gradient only) ->
//   adapter backward with beta * KL.
// Nothing is computed for the frozen weights' gradients. The adapter's
// config().input_dim must be base.config().input_dim().
// Thread-safety: one caller at a time (owns its scratch); base and adapter
// are only read.
class InputAdapterStep {
 public:
  // eps [batch x latent_dim] (IakModule::DrawEps; ignored by a plain adapter);
  // conversion as in model::FineTuneStep::Run. Overwrites grads (layout of
  // adapter.params()) with the gradient of task loss + beta * mean KL.
  model::StepStats Run(const model::BaseModel& base, const model::IakModule& adapter,
                       model::IakPhase phase, float beta, const float* x, int batch,
                       const float* click, const float* conversion, const float* eps,
                       float* grads);
  // Inference (z = mu); p_ctcvr only for a two-task base (may be null).
  void Predict(const model::BaseModel& base, const model::IakModule& adapter, const float* x,
               int batch, float* p_ctr, float* p_ctcvr);

 private:
  model::BaseModelWorkspace base_ws_;
  model::IakWorkspace iak_ws_;
  std::vector<float> x_adapted_, h_, dh_, dx_, logits_, dlogits_;
};

// The same for an adapter on the CTR tower's first hidden layer
// (AdapterInsertion::kTower), from h (the frozen bottom's output):
//   a = ReLU(first layer of tower 0 (h)); a' = a + adapter(a);
//   logit_0 = rest of tower 0 (a'); logit_t = tower t (h) for t > 0.
// The adapter's config().input_dim must be base.config().tower_hidden[0].
class TowerAdapterStep {
 public:
  // True when `base` has a tower hidden layer to adapt.
  static bool Supports(const model::BaseModelConfig& config) {
    return !config.tower_hidden.empty();
  }
  model::StepStats Run(const model::BaseModel& base, const model::IakModule& adapter,
                       model::IakPhase phase, float beta, const float* h, int batch,
                       const float* click, const float* conversion, const float* eps,
                       float* grads);
  void Predict(const model::BaseModel& base, const model::IakModule& adapter, const float* h,
               int batch, float* p_ctr, float* p_ctcvr);

 private:
  // Logits of the batch into logits_ (eps null: inference); returns the KL sum.
  double Forward(const model::BaseModel& base, const model::IakModule& adapter, const float* h,
                 int batch, const float* eps);
  void Bind(const model::BaseModel& base);

  std::vector<model::Mlp> first_, rest_, others_;  // 0 or 1 each; towers 1..
  model::MlpWorkspace first_ws_, rest_ws_;
  std::vector<model::MlpWorkspace> others_ws_;
  model::IakWorkspace iak_ws_;
  std::vector<float> a_, a_adapted_, da_, column_, logits_, dlogits_;
};

const char* MethodName(Method method);
// InvalidArgument listing the valid names.
[[nodiscard]] StatusOr<Method> ParseMethod(const std::string& name);
std::vector<Method> AllMethods();

struct MethodRunnerOptions {
  std::vector<Method> methods = AllMethods();
  int epochs = 4;  // per domain and method; 0 = evaluate untrained models
  int batch_size = 256;
  // 0 = the whole training split per epoch; tests use a few steps.
  int max_steps_per_epoch = 0;
  float dense_lr = 1e-3f;      // Adam: dense-only, full FT (dense part), LoRA
  float embedding_lr = 0.02f;  // Adagrad on the overlay rows of full FT
  float adapter_lr = 2e-3f;    // Adam: plain adapter, IAK (matching: half)
  float beta_compression = 1e-3f;
  float beta_matching = 1e-4f;
  // IAK: the first ceil(epochs * compression_fraction) epochs compress.
  double compression_fraction = 2.0 / 3.0;
  int latent_dim = 8;
  std::vector<int> adapter_hidden{32};  // encoder and decoder hidden widths
  model::LoraConfig lora;
  uint64_t seed = 1;
  // Plain adapter and IAK: per-domain batch/lr and the cold-domain fallback
  // (domain_plan.h). base_batch and dynamic are taken from batch_size and
  // dynamic_batches; plan.min_batch and the thresholds are used as given.
  bool dynamic_batches = true;
  bool cold_domain_fallback = true;  // false: every domain its own adapter
  DomainPlanOptions plan;
  int network_workers = 2;  // N of the computed network bytes
  // Plain adapter and IAK: keep h of the frozen bottom per training sample
  // after its first epoch (the frozen-prefix cache, exact because everything
  // below the adapter is frozen), so epochs 2+ skip pooling, the bottom and
  // (on a cluster) the pulls.
  bool prefix_cache = true;
  // IAK only (not the plain adapter): where its adapter sits.
  AdapterInsertion iak_insertion = AdapterInsertion::kH;
};

struct MethodDomainResult {
  std::string method;
  std::string domain;
  int64_t train_samples = 0;
  int64_t validation_samples = 0;
  int64_t test_samples = 0;
  double validation_auc = 0;  // best over epochs (NaN: one class only)
  double test_auc = 0;        // CTR-AUC at the best validation epoch
  double test_ctcvr_auc = 0;  // NaN when the data has no conversions
  int best_epoch = 0;         // 1-based; 0 when untrained
  double seconds_per_epoch = 0;
  int64_t trainable_params = 0;
  // What a checkpoint would hold: trained values + optimizer state.
  int64_t checkpoint_bytes = 0;
  // Computed per epoch (see the header comment): rows pulled, gradient rows
  // pushed (full FT), ring all-reduce of dense/adapter gradients.
  int64_t pull_bytes = 0;
  int64_t push_bytes = 0;
  int64_t allreduce_bytes = 0;
  int64_t network_bytes() const { return pull_bytes + push_bytes + allreduce_bytes; }
  int batch_size = 0;  // 0: not trained
  double lr = 0;       // the method's main learning rate on this domain
  std::string mode = "own";  // own / shared / base (DomainModeName)
  std::string plan_note;     // the DomainPlan's reason, for adapters
};

struct MethodSummary {
  std::string method;
  double mean_validation_auc = 0;
  double mean_test_auc = 0;
  double mean_test_ctcvr_auc = 0;  // NaN when no conversions
  double seconds_per_epoch = 0;    // summed over domains
  int64_t network_bytes = 0;       // per epoch, summed over domains (computed)
  int64_t trainable_params = 0;    // summed over domains
  int64_t checkpoint_bytes = 0;    // summed over domains
  int domains_above_frozen = 0;    // test AUC strictly above the frozen base
};

struct MethodReport {
  std::vector<MethodDomainResult> results;  // method-major, domain order
  bool has_ctcvr = false;
  int network_workers = 2;
  std::vector<MethodSummary> Summaries() const;
  // Markdown tables: per-domain test AUC, summary (mean AUC and cost).
  std::string ToMarkdown() const;
  std::string ToJson() const;
};

// ROC AUC of the CTCVR task: scores p_ctcvr (= pCTR * pCVR), positive iff
// click > 0.5 and conversion > 0.5. FailedPrecondition like RocAuc when only
// one class is present; InvalidArgument on length mismatch.
[[nodiscard]] StatusOr<double> CtcvrAuc(const std::vector<float>& p_ctcvr,
                                        const std::vector<float>& click,
                                        const std::vector<float>& conversion);

// `rows` resolves the frozen snapshot (absent keys = zero rows).
[[nodiscard]] StatusOr<MethodReport> RunMethods(const JobData& job, const model::BaseModel& base,
                                                const model::RowLookup& rows,
                                                const MethodRunnerOptions& options);

// Loads `model_dir` (dense weights + every embedding shard, locally) and the
// data of `data`, then RunMethods.
[[nodiscard]] StatusOr<MethodReport> RunMethodsOnModelDir(const proto::DataSpec& data,
                                                          const std::string& model_dir,
                                                          const MethodRunnerOptions& options);

}  // namespace iak::worker

#endif  // IAK_WORKER_METHOD_RUNNER_H_
