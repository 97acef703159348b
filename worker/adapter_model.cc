#include "worker/adapter_model.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <system_error>
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
// With key biases: this tag, the rows' key fingerprint (0 without rows), the
// biases' key fingerprint, then the adapter's, the rows' (empty without) and
// the biases' Adagrad state, each after its length.
constexpr uint32_t kBiasesStateTag = 0x42524b4e;  // "NKRB"

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

// Adagrad accumulators as a blob, and back: DataLoss naming `what` when the
// blob does not hold exactly accumulators->size() values.
std::string AccumulatorsBlob(const std::vector<float>& accumulators) {
  model::ByteWriter writer;
  writer.WriteFloats(accumulators.data(), accumulators.size());
  return writer.Release();
}

Status ReadAccumulators(std::string_view blob, const std::string& what,
                        std::vector<float>* accumulators) {
  model::ByteReader reader(blob);
  std::vector<float> read;
  if (!reader.ReadFloats(accumulators->size(), &read) || reader.remaining() != 0) {
    return DataLossError("the " + what + "' Adagrad state does not fit " +
                         std::to_string(accumulators->size()) + " values");
  }
  *accumulators = std::move(read);
  return Status::Ok();
}

}  // namespace

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

void AdapterModel::AddKeyBiases(KeyBiases biases, const KeyBiasesOptions& options) {
  CHECK(insertion_ != AdapterInsertion::kTower) << "key biases train with an adapter on h or x";
  biases_ = std::make_unique<KeyBiases>(std::move(biases));
  bias_options_ = options;
  bias_adagrad_.assign(biases_->num_values(), 0.0f);
  grads_.assign(iak_.num_params() + num_row_values() + biases_->num_values(), 0.0f);
}

float* AdapterModel::grads() { return trains_keys() ? grads_.data() : iak_.mutable_grads(); }

size_t AdapterModel::num_grads() const {
  return trains_keys() ? grads_.size() : iak_.num_params();
}

int AdapterModel::prefix_cache_width() const {
  if (new_rows_ != nullptr) return 0;  // x changes with the rows
  const model::BaseModelConfig& c = context_.base->config();
  return insertion_ == AdapterInsertion::kX ? c.input_dim() : c.h_dim();
}

StatusOr<model::StepStats> AdapterModel::Gradients(const PreparedBatch& batch,
                                                   const PhaseSettings& phase) {
  if (trains_keys()) return GradientsWholeModel(batch, phase);
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

StatusOr<model::StepStats> AdapterModel::GradientsWholeModel(const PreparedBatch& batch,
                                                             const PhaseSettings& phase) {
  const model::BaseModel& base = *context_.base;
  const int n = batch.size();
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  if (n == 0) return model::StepStats();
  // The samples' keys: a streamed batch carries its own samples (ids[i] at
  // i); otherwise the ids index the job's data set.
  const bool streamed = batch.samples.size() == static_cast<size_t>(n);
  const data::Dataset& data = streamed ? batch.samples : *context_.data;
  const uint32_t* ids = batch.ids.data();
  if (streamed) {
    local_ids_.resize(static_cast<size_t>(n));
    std::iota(local_ids_.begin(), local_ids_.end(), 0u);
    ids = local_ids_.data();
  }
  // The step's input: x, or, for an adapter on h without rows, h (the
  // frozen prefix: cached, or computed here and cached).
  const float* input = nullptr;
  const bool from_h = new_rows_ == nullptr && insertion_ == AdapterInsertion::kH;
  if (new_rows_ != nullptr) {
    // The rows changed at the last step: pooled now, not ahead by the pipeline.
    x_.resize(static_cast<size_t>(n) * base.config().input_dim());
    dx_.resize(x_.size());
    IAK_RETURN_IF_ERROR(FetchAndPool(data, ids, n, new_rows_.get(), &pulled_, x_.data())
                            .WithContext("new-key rows: pooling the batch"));
    input = x_.data();
  } else if (batch.from_cache) {
    input = batch.h.data();  // the cached prefix: x on x, h on h
  } else {
    input = batch.x.data();
    if (from_h) {
      h_.resize(static_cast<size_t>(n) * base.config().h_dim());
      whole_step_.ForwardBottom(base, input, n, h_.data());
      input = h_.data();
    }
    if (context_.cache != nullptr) IAK_RETURN_IF_ERROR(context_.cache->Put(batch.ids.data(), n, input));
  }
  const float* offsets = nullptr;
  if (biases_ != nullptr) {
    offsets_.resize(static_cast<size_t>(n));
    biases_->Offsets(data, ids, n, offsets_.data());
    offsets = offsets_.data();
  }
  const float* eps = iak_.config().plain_adapter ? nullptr : batch.eps.data();
  const float* conv = data.has_conversion() ? batch.conversion.data() : nullptr;
  const model::StepStats stats =
      from_h ? whole_step_.RunOnH(base, iak_, phase.phase, phase.beta, input, n,
                                  batch.click.data(), conv, eps, grads_.data(), offsets)
             : whole_step_.Run(base, iak_, insertion_ == AdapterInsertion::kX, phase.phase,
                               phase.beta, input, n, batch.click.data(), conv, eps,
                               grads_.data(), new_rows_ != nullptr ? dx_.data() : nullptr,
                               offsets);
  if (new_rows_ != nullptr) {
    row_grads_.Collect(data, ids, n, dx_.data());
    new_rows_->AccumulateGradients(row_grads_, grads_.data() + iak_.num_params());
  }
  if (biases_ != nullptr) {
    biases_->AccumulateGradients(data, ids, n, whole_step_.dlogits(),
                                 base.config().num_tasks,
                                 grads_.data() + iak_.num_params() + num_row_values());
  }
  return stats;
}

Status AdapterModel::Step(const PhaseSettings& phase) {
  adam_.set_lr(phase.learning_rate);
  const float* grads = trains_keys() ? grads_.data() : iak_.grads().data();
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
  if (biases_ != nullptr) {
    ps::AdagradRowStep(biases_->mutable_values(), bias_adagrad_.data(),
                       grads_.data() + iak_.num_params() + num_row_values(), bias_adagrad_.size(),
                       bias_options_.learning_rate, ps::RowOptimizerOptions().epsilon);
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
  if (biases_ != nullptr) {
    offsets_.resize(static_cast<size_t>(n));
    biases_->Offsets(*context_.data, ids, n, offsets_.data());
    whole_step_.Predict(base, iak_, insertion_ == AdapterInsertion::kX, x_.data(), n, p_ctr,
                        p_ctcvr, offsets_.data());
    return Status::Ok();
  }
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
  if (biases_ != nullptr) {
    params.insert(params.end(), biases_->values().begin(), biases_->values().end());
  }
  return params;
}

Status AdapterModel::SetParams(const std::vector<float>& params) {
  const size_t rows = num_row_values();
  const size_t biases = biases_ != nullptr ? biases_->num_values() : 0;
  if (params.size() != iak_.num_params() + rows + biases) {
    return FailedPreconditionError(
        "adapter has " + std::to_string(iak_.num_params()) + " parameters" +
        (rows > 0 ? ", " + std::to_string(rows) + " new-key row values" : "") +
        (biases > 0 ? ", " + std::to_string(biases) + " key biases" : "") + ", not " +
        std::to_string(params.size()));
  }
  auto next = params.begin();
  std::copy_n(next, iak_.num_params(), iak_.mutable_params());
  next += static_cast<std::ptrdiff_t>(iak_.num_params());
  if (rows > 0) std::copy_n(next, rows, new_rows_->mutable_values());
  next += static_cast<std::ptrdiff_t>(rows);
  if (biases > 0) std::copy_n(next, biases, biases_->mutable_values());
  return Status::Ok();
}

std::string AdapterModel::RowsOptimizerState() const {
  if (rows_adam_ != nullptr) return rows_adam_->Serialize();
  return AccumulatorsBlob(rows_adagrad_);
}

std::string AdapterModel::BiasesOptimizerState() const { return AccumulatorsBlob(bias_adagrad_); }

std::string AdapterModel::OptimizerState() const {
  if (!trains_keys()) return adam_.Serialize();
  std::string out;
  const uint32_t tag = biases_ != nullptr ? kBiasesStateTag : kRowsStateTag;
  const uint64_t rows_fingerprint = new_rows_ != nullptr ? new_rows_->KeyFingerprint() : 0;
  out.append(reinterpret_cast<const char*>(&tag), sizeof(tag));
  out.append(reinterpret_cast<const char*>(&rows_fingerprint), sizeof(rows_fingerprint));
  if (biases_ != nullptr) {
    const uint64_t bias_fingerprint = biases_->KeyFingerprint();
    out.append(reinterpret_cast<const char*>(&bias_fingerprint), sizeof(bias_fingerprint));
  }
  AppendBlob(adam_.Serialize(), &out);
  AppendBlob(new_rows_ != nullptr ? RowsOptimizerState() : std::string(), &out);
  if (biases_ != nullptr) AppendBlob(BiasesOptimizerState(), &out);
  return out;
}

Status AdapterModel::SetOptimizerState(std::string_view state) {
  if (!trains_keys()) return adam_.Deserialize(state);
  const std::string what = biases_ != nullptr ? "key biases" : "new-key rows";
  const uint32_t want_tag = biases_ != nullptr ? kBiasesStateTag : kRowsStateTag;
  uint32_t tag = 0;
  uint64_t rows_fingerprint = 0, bias_fingerprint = 0;
  std::string_view adapter, rows, biases;
  const size_t head = sizeof(tag) + sizeof(rows_fingerprint) +
                      (biases_ != nullptr ? sizeof(bias_fingerprint) : 0);
  if (state.size() >= sizeof(tag)) std::memcpy(&tag, state.data(), sizeof(tag));
  if (state.size() < head || tag != want_tag) {
    return DataLossError("optimizer state without " + what + "; this unit trains them");
  }
  std::memcpy(&rows_fingerprint, state.data() + sizeof(tag), sizeof(rows_fingerprint));
  if (biases_ != nullptr) {
    std::memcpy(&bias_fingerprint, state.data() + sizeof(tag) + sizeof(rows_fingerprint),
                sizeof(bias_fingerprint));
  }
  state.remove_prefix(head);
  if (!TakeBlob(&state, &adapter) || !TakeBlob(&state, &rows) ||
      (biases_ != nullptr && !TakeBlob(&state, &biases)) || !state.empty()) {
    return DataLossError("optimizer state without " + what + "; this unit trains them");
  }
  if (rows_fingerprint != (new_rows_ != nullptr ? new_rows_->KeyFingerprint() : 0)) {
    return FailedPreconditionError(
        "the checkpoint's new-key rows are of another key set than this job finds (other data "
        "or another snapshot)");
  }
  if (biases_ != nullptr && bias_fingerprint != biases_->KeyFingerprint()) {
    return FailedPreconditionError(
        "the checkpoint's key biases are of another key set than this job finds (other data "
        "or other iak.key_biases fields)");
  }
  IAK_RETURN_IF_ERROR(adam_.Deserialize(adapter));
  if (biases_ != nullptr) IAK_RETURN_IF_ERROR(ReadAccumulators(biases, "key biases", &bias_adagrad_));
  if (new_rows_ == nullptr) return Status::Ok();
  if (rows_adam_ != nullptr) return rows_adam_->Deserialize(rows);
  return ReadAccumulators(rows, "new-key rows", &rows_adagrad_);
}

Status AdapterModel::Write(const std::string& output_dir, const std::string& name) const {
  const std::string dir = output_dir + "/adapters";
  IAK_RETURN_IF_ERROR(SaveAdapter(dir, name, iak_));
  // A file of an earlier run that trained rows or biases would be read next
  // to this adapter: removed when this unit trains none.
  std::error_code ec;
  if (biases_ != nullptr) {
    IAK_RETURN_IF_ERROR(SaveKeyBiases(dir, name, *biases_));
  } else {
    std::filesystem::remove(KeyBiasesPath(dir, name), ec);
  }
  if (new_rows_ != nullptr) return SaveNewKeyRows(dir, name, *new_rows_);
  std::filesystem::remove(NewKeyRowsPath(dir, name), ec);
  return Status::Ok();
}

int64_t AdapterModel::CheckpointBytes() const {
  int64_t bytes = static_cast<int64_t>(iak_.Serialize().size() + adam_.Serialize().size());
  if (new_rows_ != nullptr) {
    bytes += static_cast<int64_t>(new_rows_->Serialize().size() + RowsOptimizerState().size());
  }
  if (biases_ != nullptr) {
    bytes += static_cast<int64_t>(biases_->Serialize().size() + BiasesOptimizerState().size());
  }
  return bytes;
}

}  // namespace iak::worker
