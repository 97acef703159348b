// AdapterModel: the iak and plain methods (DomainModel, worker/domain_model.h).
// A bottleneck adapter trained above the frozen base, at one of three
// insertion points (JobSpec.iak.insertion):
//   "h"      on h, the bottom MLP's output, before the towers (the default);
//            the step runs on an AdapterStepEngine (CPU or GPU) and the
//            frozen-prefix cache keeps h per sample;
//   "x"      on the pooled embedding input x, residual, before the frozen
//            bottom (trained through the bottom's input gradient); the cache
//            keeps the pooled x;
//   "tower"  on the CTR tower's first hidden layer (post-ReLU); the cache
//            keeps h.
// In the matching phase only the decoder steps (the encoder is frozen).
// Everything below the adapter is frozen, so the cache is exact.
// With new-key rows (JobSpec.iak.new_key_rows, insertion h or x) the unit
// also trains the rows of the keys the snapshot lacks (worker/new_key_rows.h):
// the rows change every step, so the model pools its own batches from them
// and nothing is cached. With key biases (JobSpec.iak.key_biases, insertion
// h or x; worker/key_biases.h) each sample's CTR logit gains its keys'
// biases, trained with the adapter; the step then runs on the CPU
// (model::WholeModelAdapterStep; on h from the cached h). grads(), Params() and the optimizer state hold the
// adapter's values, then the rows', then the biases'.
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_ADAPTER_MODEL_H_
#define IAK_WORKER_ADAPTER_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "job/adapter_insertion.h"
#include "model/adam.h"
#include "model/adapter_step_engine.h"
#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/parallel_step.h"
#include "model/tower_adapter_step.h"
#include "model/whole_model_adapter_step.h"
#include "proto/job_spec.pb.h"
#include "worker/domain_model.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/key_biases.h"
#include "worker/new_key_rows.h"
#include "worker/pulled_rows.h"
#include "worker/row_source.h"

namespace iak::worker {

// The insertion is a job spec concept (job/adapter_insertion.h); the
// worker's code and its callers name it here, next to what it trains.
using job::AdapterInsertion;
using job::AdapterInsertionName;
using job::ParseAdapterInsertion;
// Inference outside the trainer (`iak eval`, `iak predict`, `iak export`,
// iakps) applies a job's adapters to h, or to the pooled input x for
// iak.insertion "x": whether on x. FailedPrecondition, naming `what`, for
// "tower" (not served outside the trainer: applied to h, such adapters would
// score wrongly without a word); InvalidArgument for an unknown insertion.
[[nodiscard]] StatusOr<bool> InferenceAdaptersOnX(const proto::JobSpec& spec,
                                                  const std::string& what);

// What every adapter of a job shares (not owned; all outlive the models).
struct AdapterContext {
  const data::Dataset* data = nullptr;
  const model::BaseModel* base = nullptr;
  RowSource* rows = nullptr;               // the frozen rows, for scoring
  model::AdapterStepEngine* engine = nullptr;  // insertion h
  FrozenPrefixCache* cache = nullptr;      // may be null
};

class AdapterModel : public DomainModel {
 public:
  // `config.input_dim` must fit the insertion point (h_dim, input_dim or
  // tower_hidden[0]); parameters are initialised from `seed`.
  AdapterModel(const AdapterContext& context, const model::IakConfig& config,
               AdapterInsertion insertion, uint64_t seed);
  // The same with new-key rows trained by `rows_options`' optimizer and
  // learning rate (insertion must be kH; CHECK-fails otherwise,
  // MakeDomainModel refuses it).
  AdapterModel(const AdapterContext& context, const model::IakConfig& config,
               AdapterInsertion insertion, uint64_t seed, NewKeyRows new_rows,
               const NewKeyRowsOptions& rows_options);

  // Adds trainable key biases (before the first step; insertion h or x).
  void AddKeyBiases(KeyBiases biases, const KeyBiasesOptions& options);

  bool wants_pooled_rows() const override { return new_rows_ == nullptr; }
  int prefix_cache_width() const override;
  StatusOr<model::StepStats> Gradients(const PreparedBatch& batch,
                                       const PhaseSettings& phase) override;
  float* grads() override;
  size_t num_grads() const override;
  Status Step(const PhaseSettings& phase) override;
  Status Score(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) override;
  std::vector<float> Params() const override;
  Status SetParams(const std::vector<float>& params) override;
  std::string OptimizerState() const override;
  Status SetOptimizerState(std::string_view state) override;
  Status Write(const std::string& output_dir, const std::string& name) const override;
  int64_t CheckpointBytes() const override;

  const model::IakModule& adapter() const { return iak_; }
  // Null without new-key rows.
  const NewKeyRows* new_rows() const { return new_rows_.get(); }
  // Null without key biases.
  const KeyBiases* key_biases() const { return biases_.get(); }

 private:
  // Gradients() with new-key rows or key biases: through the whole model
  // from x (pooled from the rows when there are rows), on the CPU.
  StatusOr<model::StepStats> GradientsWholeModel(const PreparedBatch& batch,
                                                 const PhaseSettings& phase);
  // Whether grads_ holds [adapter | rows | biases] (rows or biases train).
  bool trains_keys() const { return new_rows_ != nullptr || biases_ != nullptr; }
  size_t num_row_values() const { return new_rows_ != nullptr ? new_rows_->num_values() : 0; }
  std::string RowsOptimizerState() const;
  std::string BiasesOptimizerState() const;

  AdapterContext context_;
  model::IakModule iak_;
  model::Adam adam_;
  AdapterInsertion insertion_;
  model::WholeModelAdapterStep whole_step_;  // adapters on x; with new-key rows, on h too
  model::TowerAdapterStep tower_step_;
  model::ParallelFineTuneStep bottom_{1};  // the tower insertion's frozen bottom
  model::FineTuneStep predict_;
  PulledRows pulled_;
  std::vector<float> x_, h_;
  // New-key rows (null without): grads_ = [adapter | rows].
  std::unique_ptr<NewKeyRows> new_rows_;
  NewKeyRowsOptions rows_options_;
  std::unique_ptr<model::Adam> rows_adam_;  // options.adam
  std::vector<float> rows_adagrad_;         // !options.adam: accumulators
  model::RowGradients row_grads_{1};
  // Key biases (null without).
  std::unique_ptr<KeyBiases> biases_;
  KeyBiasesOptions bias_options_;
  std::vector<float> bias_adagrad_, offsets_;
  std::vector<uint32_t> local_ids_;  // 0..n-1 over a streamed batch's samples
  std::vector<float> grads_, dx_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_ADAPTER_MODEL_H_
