#include "worker/adapter_model.h"

#include <algorithm>

#include "worker/adapter_store.h"

namespace iak::worker {

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

AdapterModel::AdapterModel(const AdapterContext& context, const model::IakConfig& config,
                           AdapterInsertion insertion, uint64_t seed)
    : context_(context),
      iak_(config),
      adam_(iak_.num_params(), model::AdamOptions()),
      insertion_(insertion),
      pulled_(context.base->config().embedding_dim) {
  iak_.Init(seed);
}

int AdapterModel::prefix_cache_width() const {
  const model::BaseModelConfig& c = context_.base->config();
  return insertion_ == AdapterInsertion::kX ? c.input_dim() : c.h_dim();
}

StatusOr<model::StepStats> AdapterModel::Gradients(const PreparedBatch& batch,
                                                   const PhaseSettings& phase) {
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
    return x_step_.Run(base, iak_, phase.phase, phase.beta, x, n, click, conv, eps,
                       iak_.mutable_grads());
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

Status AdapterModel::Step(const PhaseSettings& phase) {
  adam_.set_lr(phase.learning_rate);
  if (phase.phase == model::IakPhase::kMatching) {
    // Knowledge matching: the encoder is frozen, only the decoder moves.
    adam_.Step(iak_.mutable_params(), iak_.grads().data(), {iak_.decoder_param_range()});
  } else {
    adam_.Step(iak_.mutable_params(), iak_.grads().data());
  }
  return Status::Ok();
}

Status AdapterModel::Score(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) {
  const model::BaseModel& base = *context_.base;
  if (n == 0) return Status::Ok();
  if (base.config().num_tasks != 2) p_ctcvr = nullptr;
  x_.resize(static_cast<size_t>(n) * base.config().input_dim());
  IAK_RETURN_IF_ERROR(FetchAndPool(*context_.data, ids, n, context_.rows, &pulled_, x_.data()));
  switch (insertion_) {
    case AdapterInsertion::kH:
      predict_.Predict(base, &iak_, x_.data(), n, p_ctr, p_ctcvr);
      break;
    case AdapterInsertion::kX:
      x_step_.Predict(base, iak_, x_.data(), n, p_ctr, p_ctcvr);
      break;
    case AdapterInsertion::kTower:
      h_.resize(static_cast<size_t>(n) * base.config().h_dim());
      bottom_.ForwardBottom(base, x_.data(), n, h_.data());
      tower_step_.Predict(base, iak_, h_.data(), n, p_ctr, p_ctcvr);
      break;
  }
  return Status::Ok();
}

Status AdapterModel::SetParams(const std::vector<float>& params) {
  if (params.size() != iak_.num_params()) {
    return FailedPreconditionError("adapter has " + std::to_string(iak_.num_params()) +
                                   " parameters, not " + std::to_string(params.size()));
  }
  std::copy(params.begin(), params.end(), iak_.mutable_params());
  return Status::Ok();
}

Status AdapterModel::Write(const std::string& output_dir, const std::string& name) const {
  return SaveAdapter(output_dir + "/adapters", name, iak_);
}

int64_t AdapterModel::CheckpointBytes() const {
  return static_cast<int64_t>(iak_.Serialize().size() + adam_.Serialize().size());
}

}  // namespace iak::worker
