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
// training split with the same batch size and seed. After each epoch the
// validation AUC is measured; the reported test AUC is the one of the epoch
// with the best validation AUC (the test split never chooses anything).
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
#include "model/iak_module.h"
#include "model/lora.h"
#include "worker/job_data.h"

namespace iak::worker {

enum class Method { kFrozen, kFull, kDense, kLora, kPlain, kIak };

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
};

struct MethodDomainResult {
  std::string method;
  std::string domain;
  int64_t train_samples = 0;
  int64_t validation_samples = 0;
  int64_t test_samples = 0;
  double validation_auc = 0;  // best over epochs
  double test_auc = 0;        // at the best validation epoch
  int best_epoch = 0;         // 1-based; 0 when untrained
  double seconds_per_epoch = 0;
  int64_t trainable_params = 0;
  // What a checkpoint would hold: trained values + optimizer state.
  int64_t checkpoint_bytes = 0;
};

struct MethodSummary {
  std::string method;
  double mean_validation_auc = 0;
  double mean_test_auc = 0;
  double seconds_per_epoch = 0;    // summed over domains
  int64_t trainable_params = 0;    // summed over domains
  int64_t checkpoint_bytes = 0;    // summed over domains
  int domains_above_frozen = 0;    // test AUC strictly above the frozen base
};

struct MethodReport {
  std::vector<MethodDomainResult> results;  // method-major, domain order
  std::vector<MethodSummary> Summaries() const;
  // Markdown tables: per-domain test AUC, summary (mean AUC and cost).
  std::string ToMarkdown() const;
  std::string ToJson() const;
};

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
