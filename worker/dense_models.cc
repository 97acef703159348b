#include "worker/dense_models.h"

#include <algorithm>
#include <utility>

#include "common/file_util.h"
#include "model/finite_check.h"
#include "worker/adapter_store.h"
#include "worker/domain_file_name.h"

namespace iak::worker {
namespace {

// The batch's conversion labels (the pipeline fills them when its data has
// them), or null.
const float* ConversionOf(const PreparedBatch& batch) {
  return batch.conversion.empty() ? nullptr : batch.conversion.data();
}

}  // namespace

Status CopyTrainedValues(const std::vector<float>& params, size_t expected, float* to) {
  if (params.size() != expected) {
    return FailedPreconditionError("model has " + std::to_string(expected) +
                                   " trained values, not " + std::to_string(params.size()));
  }
  std::copy(params.begin(), params.end(), to);
  return Status::Ok();
}

std::string MethodModelPath(const std::string& output_dir, const std::string& domain) {
  return output_dir + "/models/" + DomainFileStem(domain) + ".dense";
}

StatusOr<model::BaseModel> LoadMethodModel(const std::string& output_dir,
                                           const std::string& domain) {
  const std::string path = MethodModelPath(output_dir, domain);
  IAK_ASSIGN_OR_RETURN(std::string bytes, ReadDomainResult(path, "fine-tuned model", domain));
  StatusOr<model::BaseModel> loaded = model::BaseModel::Deserialize(bytes);
  if (!loaded.ok()) return loaded.status().WithContext(path);
  return loaded;
}

std::string TrainedModelDir(const proto::JobSpec& spec) {
  return spec.trainable().output_model_dir().empty() ? spec.output_dir() + "/trained-model"
                                                     : spec.trainable().output_model_dir();
}

StatusOr<std::unique_ptr<embedding::LocalEmbeddingTable>> OpenTrainedTable(
    const proto::JobSpec& spec) {
  StatusOr<embedding::ModelDirectory> trained =
      embedding::LoadModelDirectory(TrainedModelDir(spec));
  if (!trained.ok()) {
    return trained.status().WithContext(
        "method full: the trained snapshot the parameter servers write at the end");
  }
  return embedding::LocalEmbeddingTable::Open(*trained);
}

DenseFamilyModel::DenseFamilyModel(const DenseContext& context)
    : context_(context), pulled_(context.base->config().embedding_dim) {}

Status DenseFamilyModel::Score(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) {
  if (n == 0) return Status::Ok();
  const model::BaseModel& model = Scoring();
  x_.resize(static_cast<size_t>(n) * model.config().input_dim());
  IAK_RETURN_IF_ERROR(FetchAndPool(*context_.data, ids, n, ScoringRows(), &pulled_, x_.data()));
  predict_.Predict(model, nullptr, x_.data(), n, p_ctr,
                   model.config().num_tasks == 2 ? p_ctcvr : nullptr);
  return Status::Ok();
}

Status DenseFamilyModel::Write(const std::string& output_dir, const std::string& name) const {
  const std::string dir = output_dir + "/models";
  IAK_RETURN_IF_ERROR(CreateDirectories(dir, "set output_dir to a writable directory"));
  const model::BaseModel& model = Scoring();
  IAK_RETURN_IF_ERROR(model::CheckFinite(model.params().data(), model.params().size(),
                                         "the fine-tuned model of domain " + name));
  return WriteFileAtomically(MethodModelPath(output_dir, name), model.Serialize());
}

DenseModel::DenseModel(const DenseContext& context)
    : AdamTrainedModel(context, *context.base) {}

float DenseModel::DenseGradients(const PreparedBatch& batch, const float* x, float* dx) {
  return step_.Run(&trained_, x, batch.size(), batch.click.data(),
                   ConversionOf(batch), dx);
}

StatusOr<model::StepStats> DenseModel::Gradients(const PreparedBatch& batch,
                                                 const PhaseSettings&) {
  model::StepStats stats;
  // An empty batch (a rank with no samples of this domain) gives zero
  // gradients and still joins the average.
  stats.task_loss = DenseGradients(batch, batch.x.data(), nullptr);
  stats.loss = stats.task_loss;
  return stats;
}

int64_t DenseModel::CheckpointBytes() const {
  return static_cast<int64_t>(trained_.Serialize().size() + adam_.Serialize().size());
}

LoraModel::LoraModel(const DenseContext& context, const model::LoraConfig& config,
                     uint64_t seed)
    : AdamTrainedModel(context, model::LoraAdapter(context.base->config(), config)),
      merged_(*context.base) {
  trained_.Init(seed);
}

StatusOr<model::StepStats> LoraModel::Gradients(const PreparedBatch& batch,
                                                const PhaseSettings&) {
  trained_.Merge(context_.base->params().data(), merged_.mutable_params());
  model::StepStats stats;
  stats.task_loss = step_.Run(&merged_, batch.x.data(), batch.size(), batch.click.data(),
                              ConversionOf(batch), nullptr);
  stats.loss = stats.task_loss;
  trained_.ZeroGrads();
  trained_.Backward(merged_.grads().data());
  return stats;
}

const model::BaseModel& LoraModel::Scoring() const {
  trained_.Merge(context_.base->params().data(), merged_.mutable_params());
  return merged_;
}

int64_t LoraModel::CheckpointBytes() const {
  return static_cast<int64_t>(trained_.num_params() * sizeof(float) + adam_.Serialize().size());
}

FullModel::FullModel(const DenseContext& context, TrainableRows* rows, KeyDropout dropout)
    : DenseModel(context),
      rows_(rows),
      dropout_(std::move(dropout)),
      row_grads_(context.base->config().embedding_dim) {}

StatusOr<model::StepStats> FullModel::Gradients(const PreparedBatch& batch,
                                                const PhaseSettings&) {
  // The rows change every step, so they are read now (after the last push),
  // not ahead by the pipeline. A streamed batch (pre-training with
  // data.stream) carries its samples, sample i at i.
  const int n = batch.size();
  const bool streamed = n > 0 && batch.samples.size() == static_cast<size_t>(n);
  const data::Dataset& samples = streamed ? batch.samples : *context_.data;
  for (int i = static_cast<int>(local_ids_.size()); i < n; ++i) local_ids_.push_back(i);
  const uint32_t* ids = streamed ? local_ids_.data() : batch.ids.data();
  const int input_dim = trained_.config().input_dim();
  x_train_.resize(static_cast<size_t>(n) * input_dim);
  dx_.resize(x_train_.size());
  IAK_RETURN_IF_ERROR(FetchAndPool(samples, ids, n, rows_, &pulled_, x_train_.data())
                          .WithContext("full fine-tuning: reading the trained rows"));
  // Dropped fields read as the zero row and their keys get no gradient.
  dropout_.Draw(batch.index, batch.ids.data(), n);
  dropout_.Apply(x_train_.data(), n);
  model::StepStats stats;
  stats.task_loss = DenseGradients(batch, x_train_.data(), dx_.data());
  stats.loss = stats.task_loss;
  dropout_.Apply(dx_.data(), n);
  row_grads_.Collect(samples, ids, n, dx_.data());
  return stats;
}

Status FullModel::Step(const PhaseSettings& phase) {
  IAK_RETURN_IF_ERROR(DenseModel::Step(phase));
  // Each rank pushes its rows' gradients of its own mean loss times
  // 1/group, so that the per-key sum over the ranks is the gradient of the
  // all-ranks mean loss (the dense average's scaling). A key two ranks both
  // touched gets one optimizer step per push (docs/job_spec.md).
  row_grads_.Scale(1.0f / static_cast<float>(std::max(1, phase.group_size)));
  return rows_
      ->Push(row_grads_.keys().data(), row_grads_.keys().size(), row_grads_.grads().data(),
             nullptr)
      .WithContext("full fine-tuning: pushing row gradients");
}

int64_t FullModel::num_trained_values() const {
  const int64_t rows = std::max<int64_t>(0, rows_->num_trained_rows());
  return static_cast<int64_t>(trained_.num_params()) + rows * trained_.config().embedding_dim;
}

int64_t FullModel::CheckpointBytes() const {
  // Trained rows: key + row + one optimizer accumulator each.
  const int64_t rows = std::max<int64_t>(0, rows_->num_trained_rows());
  const int64_t dim = trained_.config().embedding_dim;
  return DenseModel::CheckpointBytes() + rows * (8 + 2 * 4 * dim);
}

}  // namespace iak::worker
