// The methods that tune the base model's dense layers (DomainModel,
// worker/domain_model.h):
//   FrozenModel  "frozen": nothing trained; scores with the base.
//   DenseModel   "dense": Adam on every dense parameter of a copy of the base.
//   LoraModel    "lora": LoRA factors on every dense layer (model/lora.h),
//                trained through the merged parameters.
//   FullModel    "full": DenseModel plus the embedding rows the batches touch,
//                through TrainableRows (the trainable servers on a cluster,
//                a local overlay in one process): the gradient w.r.t. the
//                pooled input is mapped to per-key row gradients and pushed.
//                Pre-training is this model from a seeded random base, with
//                rows created on first push and optional key dropout.
// Each writes <output_dir>/models/<domain>.dense (the merged dense weights).
//
// Thread-safety: one thread.
#ifndef IAK_WORKER_DENSE_MODELS_H_
#define IAK_WORKER_DENSE_MODELS_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"
#include "embedding/model_directory.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/dense_train_step.h"
#include "model/fine_tune_step.h"
#include "model/lora.h"
#include "model/row_gradients.h"
#include "proto/job_spec.pb.h"
#include "worker/domain_model.h"
#include "worker/key_dropout.h"
#include "worker/pulled_rows.h"
#include "worker/row_source.h"
#include "worker/trainable_rows.h"

namespace iak::worker {

// Where a dense-family job's model for `domain` is written: <dir>/models/<domain>.dense.
std::string MethodModelPath(const std::string& output_dir, const std::string& domain);
// Loads it; NotFound naming the path when the job did not write it.
[[nodiscard]] StatusOr<model::BaseModel> LoadMethodModel(const std::string& output_dir,
                                                         const std::string& domain);

// Where a "full" job's trained snapshot is (trainable.output_model_dir,
// default <output_dir>/trained-model): the rows its models score with.
std::string TrainedModelDir(const proto::JobSpec& spec);
// That snapshot's table, opened for reading; the snapshot's errors, saying
// whose snapshot it is.
[[nodiscard]] StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> OpenTrainedTable(
    const proto::JobSpec& spec);

// What the dense-family models share (not owned; outlive the models).
struct DenseContext {
  const data::Dataset* data = nullptr;
  const model::BaseModel* base = nullptr;
  RowSource* rows = nullptr;  // the frozen rows (scoring, and dense/lora training)
};

// Scoring and writing from a BaseModel; the base of the others.
class DenseFamilyModel : public DomainModel {
 public:
  explicit DenseFamilyModel(const DenseContext& context);
  Status Score(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) override;
  Status Write(const std::string& output_dir, const std::string& name) const override;

 protected:
  // The dense model this unit scores with (and writes).
  virtual const model::BaseModel& Scoring() const = 0;
  // The rows scoring pools from.
  virtual RowSource* ScoringRows() { return context_.rows; }

  DenseContext context_;
  PulledRows pulled_;
  std::vector<float> x_;
  model::FineTuneStep predict_;
};

class FrozenModel : public DenseFamilyModel {
 public:
  using DenseFamilyModel::DenseFamilyModel;
  bool frozen() const override { return true; }
  StatusOr<model::StepStats> Gradients(const PreparedBatch&, const PhaseSettings&) override {
    return model::StepStats();
  }
  float* grads() override { return nullptr; }
  size_t num_grads() const override { return 0; }
  Status Step(const PhaseSettings&) override { return Status::Ok(); }
  std::vector<float> Params() const override { return {}; }
  Status SetParams(const std::vector<float>&) override { return Status::Ok(); }
  std::string OptimizerState() const override { return {}; }
  Status SetOptimizerState(std::string_view) override { return Status::Ok(); }
  // Nothing trained, nothing written: evaluation scores the base.
  Status Write(const std::string&, const std::string&) const override { return Status::Ok(); }
  int64_t CheckpointBytes() const override { return 0; }

 protected:
  const model::BaseModel& Scoring() const override { return *context_.base; }
};

// Copies `params` into `to` (the `expected` trained values of a model);
// FailedPrecondition naming both counts when they differ.
[[nodiscard]] Status CopyTrainedValues(const std::vector<float>& params, size_t expected,
                                       float* to);

// A model whose trained values are one module's flat parameters (a
// model::ParamBuffers), stepped by Adam: DenseModel (a copy of the base)
// and LoraModel (the LoRA factors). Gradients, step, parameters and
// optimizer state are the module's.
template <typename Module>
class AdamTrainedModel : public DenseFamilyModel {
 public:
  float* grads() override { return trained_.mutable_grads(); }
  size_t num_grads() const override { return trained_.num_params(); }
  Status Step(const PhaseSettings& phase) override {
    adam_.set_lr(phase.learning_rate);
    adam_.Step(trained_.mutable_params(), trained_.grads().data());
    return Status::Ok();
  }
  std::vector<float> Params() const override { return trained_.params(); }
  Status SetParams(const std::vector<float>& params) override {
    return CopyTrainedValues(params, trained_.num_params(), trained_.mutable_params());
  }
  std::string OptimizerState() const override { return adam_.Serialize(); }
  Status SetOptimizerState(std::string_view state) override { return adam_.Deserialize(state); }

 protected:
  // The learning rate is set by every Step (the phase's).
  AdamTrainedModel(const DenseContext& context, Module trained)
      : DenseFamilyModel(context),
        trained_(std::move(trained)),
        adam_(trained_.num_params(), model::AdamOptions()) {}

  Module trained_;
  model::Adam adam_;
  model::DenseTrainStep step_;
};

class DenseModel : public AdamTrainedModel<model::BaseModel> {
 public:
  explicit DenseModel(const DenseContext& context);
  StatusOr<model::StepStats> Gradients(const PreparedBatch& batch,
                                       const PhaseSettings& phase) override;
  int64_t CheckpointBytes() const override;

 protected:
  const model::BaseModel& Scoring() const override { return trained_; }
  // Forward/backward on pooled x; dx when not null.
  float DenseGradients(const PreparedBatch& batch, const float* x, float* dx);
};

class LoraModel : public AdamTrainedModel<model::LoraAdapter> {
 public:
  LoraModel(const DenseContext& context, const model::LoraConfig& config, uint64_t seed);
  StatusOr<model::StepStats> Gradients(const PreparedBatch& batch,
                                       const PhaseSettings& phase) override;
  int64_t CheckpointBytes() const override;

 protected:
  const model::BaseModel& Scoring() const override;

 private:
  mutable model::BaseModel merged_;  // base + the current LoRA delta
};

class FullModel : public DenseModel {
 public:
  // `rows` (not owned) holds the trained rows; `group_size` workers push
  // their share of each step's row gradients. `dropout`: pre-training's key
  // dropout (off by default).
  FullModel(const DenseContext& context, TrainableRows* rows, KeyDropout dropout = {});
  bool wants_pooled_rows() const override { return false; }
  bool pushes_rows() const override { return true; }
  StatusOr<model::StepStats> Gradients(const PreparedBatch& batch,
                                       const PhaseSettings& phase) override;
  Status Step(const PhaseSettings& phase) override;
  Status MarkBest() override { return rows_->Snapshot(); }
  Status RestoreBest() override { return rows_->RollBack(); }
  int64_t num_trained_values() const override;
  int64_t CheckpointBytes() const override;

 protected:
  RowSource* ScoringRows() override { return rows_; }

 private:
  TrainableRows* rows_;
  KeyDropout dropout_;
  model::RowGradients row_grads_;
  std::vector<float> x_train_, dx_;
  std::vector<uint32_t> local_ids_;  // 0, 1, ...: a streamed batch's samples
};

}  // namespace iak::worker

#endif  // IAK_WORKER_DENSE_MODELS_H_
