#include "worker/adapter_model.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <glog/logging.h>

#include "model/byte_io.h"
#include "worker/adapter_store.h"

namespace iak::worker {
namespace {

// The optimizer state with new-key rows: this tag, the rows' key
// fingerprint, then the adapter's Adam state and the rows' optimizer state
// (Adam's, or the Adagrad accumulators), each after its length.
constexpr uint32_t kRowsStateTag = 0x53524b4e;  // "NKRS"

void AppendBlob(const std::string& blob, std::string* out) {
  const uint64_t size = blob.size();
  out->append(reinterpret_cast<const char*>(&size), sizeof(size));
  out->append(blob);
}

bool TakeBlob(std::string_view* in, std::string_view* blob) {
  uint64_t size = 0;
  if (in->size() < sizeof(size)) return false;
  std::memcpy(&size, in->data(), sizeof(size));
  in->remove_prefix(sizeof(size));
  if (in->size() < size) return false;
  *blob = in->substr(0, size);
  in->remove_prefix(size);
  return true;
}

}  // namespace

const char* AdapterInsertionName(AdapterInsertion insertion) {
  switch (insertion) {
    case AdapterInsertion::kH: return "h";
    case AdapterInsertion::kX: return "x";
    case AdapterInsertion::kTower: return "tower";
  }
  return "?";
}

StatusOr<AdapterInsertion> ParseAdapterInsertion(const std::string& name) {
  if (name.empty() || name == "h") return AdapterInsertion::kH;
  if (name == "x") return AdapterInsertion::kX;
  if (name == "tower") return AdapterInsertion::kTower;
  return InvalidArgumentError("unknown adapter insertion '" + name + "'; choose h, x or tower");
}

StatusOr<bool> InferenceAdaptersOnX(const proto::JobSpec& spec, const std::string& what) {
  IAK_ASSIGN_OR_RETURN(AdapterInsertion insertion, ParseAdapterInsertion(spec.iak().insertion()));
  if (insertion != AdapterInsertion::kTower) return insertion == AdapterInsertion::kX;
  return FailedPreconditionError(
      what + " applies adapters to h or x, but job " + spec.name() +
      " trained them on the tower (iak.insertion): the job's run report has their validation "
      "figures, and `iak compare --compare_iak_insertion=tower` scores that insertion on test");
}

AdapterModel::AdapterModel(const AdapterContext& context, const model::IakConfig& config,
                           AdapterInsertion insertion, uint64_t seed)
    : context_(context),
      iak_(config),
      adam_(iak_.num_params(), model::AdamOptions()),
      insertion_(insertion),
      pulled_(context.base->config().embedding_dim) {
  iak_.Init(seed);
}

AdapterModel::AdapterModel(const AdapterContext& context, const model::IakConfig& config,
                           AdapterInsertion insertion, uint64_t seed, NewKeyRows new_rows,
                           const NewKeyRowsOptions& rows_options)
    : AdapterModel(context, config, insertion, seed) {
  CHECK(insertion != AdapterInsertion::kTower) << "new-key rows train below an adapter on h or x";
  new_rows_ = std::make_unique<NewKeyRows>(std::move(new_rows));
  rows_options_ = rows_options;
  if (rows_options.adam) {
    model::AdamOptions options;
    options.lr = rows_options.learning_rate;
    rows_adam_ = std::make_unique<model::Adam>(new_rows_->num_values(), options);
  } else {
    rows_adagrad_.assign(new_rows_->num_values(), 0.0f);
  }
  row_grads_ = model::RowGradients(new_rows_->dim());
  grads_.assign(iak_.num_params() + new_rows_->num_values(), 0.0f);
}

float* AdapterModel::grads() {
  return new_rows_ != nullptr ? grads_.data() : iak_.mutable_grads();
}

size_t AdapterModel::num_grads() const {
  return new_rows_ != nullptr ? grads_.size() : iak_.num_params();
}

int AdapterModel::prefix_cache_width() const {
  if (new_rows_ != nullptr) return 0;  // x changes with the rows
  const model::BaseModelConfig& c = context_.base->config();
  return insertion_ == AdapterInsertion::kX ? c.input_dim() : c.h_dim();
}

StatusOr<model::StepStats> AdapterModel::Gradients(const PreparedBatch& batch,
                                                   const PhaseSettings& phase) {
  if (new_rows_ != nullptr) return GradientsWithRows(batch, phase);
  const model::BaseModel& base = *context_.base;
  const int n = batch.size();
  if (n == 0) {
    iak_.ZeroGrads();
    return model::StepStats();
  }
  // The batch's own labels say it: a streamed job's resident data (its
  // validation samples) may be empty.
  const bool conversion = !batch.conversion.empty();
  const float* eps = iak_.config().plain_adapter ? nullptr : batch.eps.data();
  FrozenPrefixCache* cache = context_.cache;
  // The cached prefix (h, or x for the insertion on x) when the pipeline had
  // every sample of the batch; else it is computed here and cached.
  const float* prefix = batch.from_cache ? batch.h.data() : nullptr;
  const float* click = batch.click.data();
  const float* conv = conversion ? batch.conversion.data() : nullptr;
  if (insertion_ == AdapterInsertion::kH) {
    model::AdapterBatch in;
    in.n = n;
    in.x = batch.x.data();
    in.h = prefix;
    in.click = click;
    in.conversion = conv;
    in.eps = eps;
    float* h_out = nullptr;
    if (prefix == nullptr && cache != nullptr) {
      h_.resize(static_cast<size_t>(n) * base.config().h_dim());
      h_out = h_.data();
    }
    IAK_ASSIGN_OR_RETURN(model::StepStats stats,
                         context_.engine->Run(base, &iak_, phase.phase, phase.beta, in, h_out));
    if (h_out != nullptr) IAK_RETURN_IF_ERROR(cache->Put(batch.ids.data(), n, h_out));
    return stats;
  }
  if (insertion_ == AdapterInsertion::kX) {
    const float* x = prefix != nullptr ? prefix : batch.x.data();
    if (prefix == nullptr && cache != nullptr) {
      IAK_RETURN_IF_ERROR(cache->Put(batch.ids.data(), n, batch.x.data()));
    }
    return whole_step_.Run(base, iak_, /*adapter_on_x=*/true, phase.phase, phase.beta, x, n,
                           click, conv, eps, iak_.mutable_grads());
  }
  const float* h = prefix;
  if (h == nullptr) {
    h_.resize(static_cast<size_t>(n) * base.config().h_dim());
    bottom_.ForwardBottom(base, batch.x.data(), n, h_.data());
    if (cache != nullptr) IAK_RETURN_IF_ERROR(cache->Put(batch.ids.data(), n, h_.data()));
    h = h_.data();
  }
  return tower_step_.Run(base, iak_, phase.phase, phase.beta, h, n, click, conv, eps,
                         iak_.mutable_grads());
}

StatusOr<model::StepStats> AdapterModel::GradientsWithRows(const PreparedBatch& batch,
                                                           const PhaseSettings& phase) {
  const model::BaseModel& base = *context_.base;
  const data::Dataset& data = *context_.data;
  const int n = batch.size();
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  if (n == 0) return model::StepStats();
  // The rows changed at the last step: pooled now, not ahead by the pipeline.
  x_.resize(static_cast<size_t>(n) * base.config().input_dim());
  dx_.resize(x_.size());
  IAK_RETURN_IF_ERROR(FetchAndPool(data, batch.ids.data(), n, new_rows_.get(), &pulled_,
                                   x_.data())
                          .WithContext("new-key rows: pooling the batch"));
  const float* eps = iak_.config().plain_adapter ? nullptr : batch.eps.data();
  const float* conv = data.has_conversion() ? batch.conversion.data() : nullptr;
  const model::StepStats stats =
      whole_step_.Run(base, iak_, insertion_ == AdapterInsertion::kX, phase.phase, phase.beta,
                      x_.data(), n, batch.click.data(), conv, eps, grads_.data(), dx_.data());
  row_grads_.Collect(data, batch.ids.data(), n, dx_.data());
  new_rows_->AccumulateGradients(row_grads_, grads_.data() + iak_.num_params());
  return stats;
}

Status AdapterModel::Step(const PhaseSettings& phase) {
  adam_.set_lr(phase.learning_rate);
  const float* grads = new_rows_ != nullptr ? grads_.data() : iak_.grads().data();
  if (phase.phase == model::IakPhase::kMatching) {
    // Knowledge matching: the encoder is frozen, only the decoder moves.
    adam_.Step(iak_.mutable_params(), grads, {iak_.decoder_param_range()});
  } else {
    adam_.Step(iak_.mutable_params(), grads);
  }
  // The rows train in every phase, at their own learning rate.
  if (new_rows_ != nullptr) {
    const float* row_grads = grads_.data() + iak_.num_params();
    if (rows_adam_ != nullptr) {
      rows_adam_->Step(new_rows_->mutable_values(), row_grads);
    } else {
      // Per value, so the whole block is one long row.
      ps::AdagradRowStep(new_rows_->mutable_values(), rows_adagrad_.data(), row_grads,
                         rows_adagrad_.size(), rows_options_.learning_rate,
                         ps::RowOptimizerOptions().epsilon);
    }
  }
  return Status::Ok();
}

Status AdapterModel::Score(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) {
  const model::BaseModel& base = *context_.base;
  if (n == 0) return Status::Ok();
  if (base.config().num_tasks != 2) p_ctcvr = nullptr;
  x_.resize(static_cast<size_t>(n) * base.config().input_dim());
  RowSource* rows = new_rows_ != nullptr ? static_cast<RowSource*>(new_rows_.get()) : context_.rows;
  IAK_RETURN_IF_ERROR(FetchAndPool(*context_.data, ids, n, rows, &pulled_, x_.data()));
  switch (insertion_) {
    case AdapterInsertion::kH:
      predict_.Predict(base, &iak_, x_.data(), n, p_ctr, p_ctcvr);
      break;
    case AdapterInsertion::kX:
      whole_step_.Predict(base, iak_, /*adapter_on_x=*/true, x_.data(), n, p_ctr, p_ctcvr);
      break;
    case AdapterInsertion::kTower:
      h_.resize(static_cast<size_t>(n) * base.config().h_dim());
      bottom_.ForwardBottom(base, x_.data(), n, h_.data());
      tower_step_.Predict(base, iak_, h_.data(), n, p_ctr, p_ctcvr);
      break;
  }
  return Status::Ok();
}

std::vector<float> AdapterModel::Params() const {
  std::vector<float> params = iak_.params();
  if (new_rows_ != nullptr) {
    params.insert(params.end(), new_rows_->values().begin(), new_rows_->values().end());
  }
  return params;
}

Status AdapterModel::SetParams(const std::vector<float>& params) {
  const size_t rows = new_rows_ != nullptr ? new_rows_->num_values() : 0;
  if (params.size() != iak_.num_params() + rows) {
    return FailedPreconditionError(
        "adapter has " + std::to_string(iak_.num_params()) + " parameters" +
        (rows > 0 ? " and " + std::to_string(rows) + " new-key row values" : "") + ", not " +
        std::to_string(params.size()));
  }
  std::copy_n(params.begin(), iak_.num_params(), iak_.mutable_params());
  if (rows > 0) std::copy(params.begin() + iak_.num_params(), params.end(), new_rows_->mutable_values());
  return Status::Ok();
}

std::string AdapterModel::RowsOptimizerState() const {
  if (rows_adam_ != nullptr) return rows_adam_->Serialize();
  model::ByteWriter writer;
  writer.WriteFloats(rows_adagrad_.data(), rows_adagrad_.size());
  return writer.Release();
}

std::string AdapterModel::OptimizerState() const {
  if (new_rows_ == nullptr) return adam_.Serialize();
  std::string out;
  const uint32_t tag = kRowsStateTag;
  const uint64_t fingerprint = new_rows_->KeyFingerprint();
  out.append(reinterpret_cast<const char*>(&tag), sizeof(tag));
  out.append(reinterpret_cast<const char*>(&fingerprint), sizeof(fingerprint));
  AppendBlob(adam_.Serialize(), &out);
  AppendBlob(RowsOptimizerState(), &out);
  return out;
}

Status AdapterModel::SetOptimizerState(std::string_view state) {
  if (new_rows_ == nullptr) return adam_.Deserialize(state);
  uint32_t tag = 0;
  uint64_t fingerprint = 0;
  std::string_view adapter, rows;
  if (state.size() < sizeof(tag) + sizeof(fingerprint)) {
    return DataLossError("optimizer state without new-key rows; this unit trains them");
  }
  std::memcpy(&tag, state.data(), sizeof(tag));
  std::memcpy(&fingerprint, state.data() + sizeof(tag), sizeof(fingerprint));
  state.remove_prefix(sizeof(tag) + sizeof(fingerprint));
  if (tag != kRowsStateTag || !TakeBlob(&state, &adapter) || !TakeBlob(&state, &rows) ||
      !state.empty()) {
    return DataLossError("optimizer state without new-key rows; this unit trains them");
  }
  if (fingerprint != new_rows_->KeyFingerprint()) {
    return FailedPreconditionError(
        "the checkpoint's new-key rows are of another key set than this job finds (other data "
        "or another snapshot)");
  }
  IAK_RETURN_IF_ERROR(adam_.Deserialize(adapter));
  if (rows_adam_ != nullptr) return rows_adam_->Deserialize(rows);
  model::ByteReader reader(rows);
  std::vector<float> accumulators;
  if (!reader.ReadFloats(rows_adagrad_.size(), &accumulators) || reader.remaining() != 0) {
    return DataLossError("the new-key rows' Adagrad state does not fit " +
                         std::to_string(rows_adagrad_.size()) + " values");
  }
  rows_adagrad_ = std::move(accumulators);
  return Status::Ok();
}

Status AdapterModel::Write(const std::string& output_dir, const std::string& name) const {
  IAK_RETURN_IF_ERROR(SaveAdapter(output_dir + "/adapters", name, iak_));
  if (new_rows_ == nullptr) return Status::Ok();
  return SaveNewKeyRows(output_dir + "/adapters", name, *new_rows_);
}

int64_t AdapterModel::CheckpointBytes() const {
  int64_t bytes = static_cast<int64_t>(iak_.Serialize().size() + adam_.Serialize().size());
  if (new_rows_ != nullptr) {
    bytes += static_cast<int64_t>(new_rows_->Serialize().size() + RowsOptimizerState().size());
  }
  return bytes;
}

}  // namespace iak::worker
