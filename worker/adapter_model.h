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
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_ADAPTER_MODEL_H_
#define IAK_WORKER_ADAPTER_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "model/adam.h"
#include "model/adapter_step_engine.h"
#include "model/base_model.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "model/input_adapter_step.h"
#include "model/parallel_step.h"
#include "model/tower_adapter_step.h"
#include "worker/domain_model.h"
#include "worker/frozen_prefix_cache.h"
#include "worker/pulled_rows.h"
#include "worker/row_source.h"

namespace iak::worker {

enum class AdapterInsertion { kH, kX, kTower };
const char* AdapterInsertionName(AdapterInsertion insertion);
// "" and "h" -> kH; InvalidArgument listing the valid names otherwise.
[[nodiscard]] StatusOr<AdapterInsertion> ParseAdapterInsertion(const std::string& name);

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

  int prefix_cache_width() const override;
  StatusOr<model::StepStats> Gradients(const PreparedBatch& batch,
                                       const PhaseSettings& phase) override;
  float* grads() override { return iak_.mutable_grads(); }
  size_t num_grads() const override { return iak_.num_params(); }
  Status Step(const PhaseSettings& phase) override;
  Status Score(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) override;
  std::vector<float> Params() const override { return iak_.params(); }
  Status SetParams(const std::vector<float>& params) override;
  std::string OptimizerState() const override { return adam_.Serialize(); }
  Status SetOptimizerState(std::string_view state) override { return adam_.Deserialize(state); }
  Status Write(const std::string& output_dir, const std::string& name) const override;
  int64_t CheckpointBytes() const override;

  const model::IakModule& adapter() const { return iak_; }

 private:
  AdapterContext context_;
  model::IakModule iak_;
  model::Adam adam_;
  AdapterInsertion insertion_;
  model::InputAdapterStep x_step_;
  model::TowerAdapterStep tower_step_;
  model::ParallelFineTuneStep bottom_{1};  // the tower insertion's frozen bottom
  model::FineTuneStep predict_;
  PulledRows pulled_;
  std::vector<float> x_, h_;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_ADAPTER_MODEL_H_
