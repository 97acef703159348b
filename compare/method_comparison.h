// The method comparison (`iak compare`, docs/results.md): every fine-tuning
// method on the same data, each trained by the same Trainer a cluster job
// runs (worker/local_training.h: the job's phases, the domain plan,
// validation while training, the frozen-prefix cache), in this process with
// the embedding table read locally. What it reports is what a one-worker
// cluster job with the same spec trains, bit for bit.
//
// Methods (one model per fine-tuned domain, or per the domain plan's units):
//   frozen  the pre-trained base, no tuning;
//   full    the dense layers (Adam) plus the embedding rows the domain
//           touches (sparse Adagrad in a local overlay, the servers' code);
//   dense   Adam on the dense layers;
//   lora    LoRA of rank r on every dense layer;
//   plain   a bottleneck adapter on h (no Gaussian, no KL);
//   iak     IAK: compression (encoder + decoder, beta_c * KL), then matching
//           (decoder only, beta_m).
//   iak_rows  IAK on h plus rows of their own for the keys the frozen
//           snapshot lacks (JobSpec.iak.new_key_rows, docs/new_key_rows.md).
//
// Without a job spec the comparison builds one per method from its options:
// `epochs` epochs' worth of steps per domain (round-robin over the domains,
// as on a cluster), IAK's first `compression_fraction` in compression at
// adapter_lr, the rest in matching at adapter_lr / 2; the dense-family
// methods one phase at dense_lr. With a job spec (`iak compare --job`) every
// method runs the job's own phases and settings.
//
// Cost per method and domain: wall time per epoch (the run's time shared by
// the domains' steps), and the bytes a cluster run with network_workers
// data-parallel workers would move per epoch, COMPUTED from the batches (not
// measured): each worker pulls the rows of its share's unique keys (adapters
// with the prefix cache in their first epoch only), full FT pushes a
// gradient row for each, every step ring-all-reduces the trained parameters.
#ifndef IAK_COMPARE_METHOD_COMPARISON_H_
#define IAK_COMPARE_METHOD_COMPARISON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "compare/method_report.h"
#include "model/base_model.h"
#include "model/embedding_pooling.h"
#include "model/lora.h"
#include "proto/job_spec.pb.h"
#include "worker/adapter_model.h"
#include "worker/domain_plan.h"
#include "worker/job_data.h"

namespace iak::compare {

enum class Method { kFrozen, kFull, kDense, kLora, kPlain, kIak, kIakRows };
const char* MethodName(Method method);
// InvalidArgument listing the valid names.
[[nodiscard]] StatusOr<Method> ParseMethod(const std::string& name);
std::vector<Method> AllMethods();

using worker::AdapterInsertion;

// A named variant of a method: `method` trained with `spec_override`, a
// text-format JobSpec merged over the spec the comparison builds for the
// method (singular fields replace, repeated fields append), reported under
// `name`; e.g. name "iak+rows", method iak, an override that turns one of
// iak's options on.
struct MethodVariant {
  std::string name;
  Method method = Method::kIak;
  std::string spec_override;
};
// "NAME=METHOD" or "NAME=METHOD:SPEC TEXT" (e.g. "iak-l32=iak:iak { latent_dim: 32 }");
// InvalidArgument naming what is wrong. The override is checked to parse.
[[nodiscard]] StatusOr<MethodVariant> ParseMethodVariant(const std::string& text);

struct ComparisonOptions {
  std::vector<Method> methods = AllMethods();
  std::vector<MethodVariant> variants;  // trained after `methods`, in order
  // A job spec to run each method with (its phases, batch, seed, plan,
  // validation); the method field is replaced. Unset: built from below.
  std::optional<proto::JobSpec> job;
  int epochs = 4;  // per domain and method; 0 = evaluate untrained models
  int batch_size = 256;
  // 0 = whole training splits per epoch; tests use a few steps.
  int max_steps_per_epoch = 0;
  float dense_lr = 1e-3f;      // Adam: dense-only, full FT (dense part), LoRA
  float embedding_lr = 0.02f;  // Adagrad on the overlay rows of full FT
  float adapter_lr = 2e-3f;    // Adam: plain adapter, IAK (matching: half)
  float beta_compression = 1e-3f;
  float beta_matching = 1e-4f;
  // IAK: the first share of the steps compresses.
  double compression_fraction = 2.0 / 3.0;
  int latent_dim = 8;
  std::vector<int> adapter_hidden{32};  // encoder and decoder hidden widths
  model::LoraConfig lora;
  uint64_t seed = 1;
  // Plain adapter and IAK: per-domain batch/lr and the cold-domain fallback
  // (worker/domain_plan.h). base_batch comes from batch_size.
  bool dynamic_batches = true;
  bool cold_domain_fallback = true;  // false: every domain its own adapter
  worker::DomainPlanOptions plan;
  // Validation while training: evaluations per epoch's worth of steps, and
  // the patience in evaluations (-1: never stop early).
  int validations_per_epoch = 2;
  int patience = 4;
  int network_workers = 2;  // N of the computed network bytes
  // Adapters: the frozen-prefix cache (exact: everything below is frozen).
  bool prefix_cache = true;
  // IAK only (not the plain adapter): where its adapter sits.
  AdapterInsertion iak_insertion = AdapterInsertion::kH;
  // iak_rows: the new-key rows (proto NewKeyRowsSpec; enabled is set).
  proto::NewKeyRowsSpec new_key_rows;
};

// The job spec the comparison trains `method` with (tests run a cluster job
// with it to check that both train the same).
[[nodiscard]] StatusOr<proto::JobSpec> ComparisonSpec(Method method, const worker::JobData& job,
                                                      const ComparisonOptions& options);

// `rows` resolves the frozen snapshot (absent keys = zero rows).
[[nodiscard]] StatusOr<MethodReport> RunComparison(const worker::JobData& job,
                                                   const model::BaseModel& base,
                                                   const model::RowLookup& rows,
                                                   const ComparisonOptions& options);

// Loads `model_dir` (dense weights + every embedding shard, locally) and the
// data of `data`, then RunComparison.
[[nodiscard]] StatusOr<MethodReport> RunComparisonOnModelDir(const proto::DataSpec& data,
                                                             const std::string& model_dir,
                                                             const ComparisonOptions& options);

}  // namespace iak::compare

#endif  // IAK_COMPARE_METHOD_COMPARISON_H_
