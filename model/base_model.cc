#include "model/base_model.h"

#include <algorithm>
#include <random>
#include <utility>

#include <glog/logging.h>

#include "model/byte_io.h"
#include "model/matrix_ops.h"

namespace iak::model {
namespace {

constexpr uint64_t kMagic = 0x31455341424b4149ULL;  // "IAKBASE1"
constexpr uint32_t kVersion = 1;
// Bounds that keep a corrupt blob from asking for absurd allocations.
constexpr int kMaxWidth = 1 << 16;
constexpr size_t kMaxLayers = 64;

std::vector<int> BottomDims(const BaseModelConfig& c) {
  std::vector<int> dims{c.input_dim()};
  dims.insert(dims.end(), c.bottom_hidden.begin(), c.bottom_hidden.end());
  return dims;
}

std::vector<int> TowerDims(const BaseModelConfig& c) {
  std::vector<int> dims{c.h_dim()};
  dims.insert(dims.end(), c.tower_hidden.begin(), c.tower_hidden.end());
  dims.push_back(1);
  return dims;
}

bool WidthOk(int w) { return w > 0 && w <= kMaxWidth; }

}  // namespace


Status ValidateBaseModelConfig(const BaseModelConfig& c) {
  if (!WidthOk(c.embedding_dim)) {
    return InvalidArgumentError("base model: embedding_dim must be in [1, 65536], got " +
                                std::to_string(c.embedding_dim));
  }
  if (c.num_fields <= 0 || c.num_fields > 4096) {
    return InvalidArgumentError("base model: num_fields must be in [1, 4096], got " +
                                std::to_string(c.num_fields));
  }
  if (c.bottom_hidden.empty() || c.bottom_hidden.size() > kMaxLayers) {
    return InvalidArgumentError(
        "base model: bottom_hidden needs 1..64 widths (the last is dim of h)");
  }
  if (c.tower_hidden.size() > kMaxLayers) {
    return InvalidArgumentError("base model: tower_hidden has more than 64 widths");
  }
  for (int w : c.bottom_hidden) {
    if (!WidthOk(w)) return InvalidArgumentError("base model: bad bottom_hidden width " + std::to_string(w));
  }
  for (int w : c.tower_hidden) {
    if (!WidthOk(w)) return InvalidArgumentError("base model: bad tower_hidden width " + std::to_string(w));
  }
  if (c.num_tasks != 1 && c.num_tasks != 2) {
    return InvalidArgumentError("base model: num_tasks must be 1 (CTR) or 2 (ESMM), got " +
                                std::to_string(c.num_tasks));
  }
  return Status::Ok();
}

namespace {
std::vector<int> CheckedBottomDims(const BaseModelConfig& c) {
  Status valid = ValidateBaseModelConfig(c);
  CHECK(valid.ok()) << valid;
  return BottomDims(c);
}
}  // namespace

BaseModel::BaseModel(const BaseModelConfig& config)
    : config_(config),
      bottom_(CheckedBottomDims(config), Activation::kRelu) {
  for (int t = 0; t < config_.num_tasks; ++t) {
    towers_.emplace_back(TowerDims(config_), Activation::kNone);
  }
  size_t n = bottom_.num_params();
  for (const Mlp& tower : towers_) n += tower.num_params();
  AllocateParams(n);
  BindLayers();
}

BaseModel::BaseModel(const BaseModel& other)
    : ParamBuffers(other),
      config_(other.config_),
      bottom_(other.bottom_),
      towers_(other.towers_) {
  BindLayers();
}

// A copy, then a move: the move assignment is the one place that rebinds.
BaseModel& BaseModel::operator=(const BaseModel& other) {
  if (this != &other) *this = BaseModel(other);
  return *this;
}

// Moves rebind too: the layers must never point into another object.
BaseModel::BaseModel(BaseModel&& other) noexcept
    : ParamBuffers(std::move(other)),
      config_(std::move(other.config_)),
      bottom_(std::move(other.bottom_)),
      towers_(std::move(other.towers_)) {
  BindLayers();
}

BaseModel& BaseModel::operator=(BaseModel&& other) noexcept {
  if (this == &other) return *this;
  config_ = std::move(other.config_);
  bottom_ = std::move(other.bottom_);
  towers_ = std::move(other.towers_);
  params_ = std::move(other.params_);
  grads_ = std::move(other.grads_);
  BindLayers();
  return *this;
}

void BaseModel::BindLayers() {
  bottom_.Bind(params_.data() + bottom_param_range().begin);
  for (int t = 0; t < static_cast<int>(towers_.size()); ++t) {
    towers_[t].Bind(params_.data() + tower_param_range(t).begin);
  }
}

ParamRange BaseModel::bottom_param_range() const {
  return ParamRange{0, bottom_.num_params()};
}

ParamRange BaseModel::tower_param_range(int task) const {
  CHECK_GE(task, 0);
  CHECK_LT(task, static_cast<int>(towers_.size()));
  size_t begin = bottom_.num_params();
  for (int t = 0; t < task; ++t) begin += towers_[t].num_params();
  return ParamRange{begin, begin + towers_[task].num_params()};
}

void BaseModel::Init(uint64_t seed) {
  std::mt19937_64 rng(seed);
  bottom_.Init(&rng, /*zero_last=*/false, params_.data() + bottom_param_range().begin);
  for (int t = 0; t < static_cast<int>(towers_.size()); ++t) {
    towers_[t].Init(&rng, /*zero_last=*/false,
                    params_.data() + tower_param_range(t).begin);
  }
}

void BaseModel::ForwardBottom(const float* x, int batch, float* h,
                              BaseModelWorkspace* ws) const {
  bottom_.Forward(x, batch, h, &ws->bottom);
}

void BaseModel::ForwardTowers(const float* h, int batch, float* logits,
                              BaseModelWorkspace* ws) const {
  const int tasks = config_.num_tasks;
  ws->towers.resize(tasks);
  if (ws->column.size() < static_cast<size_t>(batch)) ws->column.resize(batch);
  for (int t = 0; t < tasks; ++t) {
    towers_[t].Forward(h, batch, ws->column.data(), &ws->towers[t]);
    for (int r = 0; r < batch; ++r) logits[r * tasks + t] = ws->column[r];
  }
}

void BaseModel::BackwardTowers(const float* dlogits, int batch, float* dh,
                               float* param_grads,
                               BaseModelWorkspace* ws) const {
  const int tasks = config_.num_tasks;
  const size_t h_size = static_cast<size_t>(batch) * config_.h_dim();
  if (ws->column.size() < static_cast<size_t>(batch)) ws->column.resize(batch);
  if (ws->dh.size() < h_size) ws->dh.resize(h_size);
  for (int t = 0; t < tasks; ++t) {
    for (int r = 0; r < batch; ++r) ws->column[r] = dlogits[r * tasks + t];
    float* grads_t =
        param_grads == nullptr ? nullptr : param_grads + tower_param_range(t).begin;
    // The first tower writes dh directly; the others add their share.
    float* dh_t = (dh == nullptr || t == 0) ? dh : ws->dh.data();
    towers_[t].Backward(ws->column.data(), batch, dh_t, grads_t, &ws->towers[t]);
    if (dh != nullptr && t > 0) AddInPlace(ws->dh.data(), h_size, dh);
  }
}

void BaseModel::BackwardBottom(const float* dh, int batch, float* dx,
                               float* param_grads,
                               BaseModelWorkspace* ws) const {
  float* grads =
      param_grads == nullptr ? nullptr : param_grads + bottom_param_range().begin;
  bottom_.Backward(dh, batch, dx, grads, &ws->bottom);
}

std::string BaseModel::Serialize() const {
  ByteWriter w;
  w.WriteU64(kMagic);
  w.WriteU32(kVersion);
  w.WriteI32(config_.embedding_dim);
  w.WriteI32(config_.num_fields);
  w.WriteInts(config_.bottom_hidden);
  w.WriteInts(config_.tower_hidden);
  w.WriteI32(config_.num_tasks);
  w.WriteFloats(params_.data(), params_.size());
  return w.Release();
}

StatusOr<BaseModel> BaseModel::Deserialize(std::string_view blob) {
  ByteReader r(blob);
  uint64_t magic = 0;
  uint32_t version = 0;
  if (!r.ReadU64(&magic) || magic != kMagic) {
    return DataLossError("base model blob: bad magic header (not a base model, or truncated)");
  }
  if (!r.ReadU32(&version) || version != kVersion) {
    return DataLossError("base model blob: unsupported version " + std::to_string(version));
  }
  BaseModelConfig config;
  int32_t dim = 0, fields = 0, tasks = 0;
  if (!r.ReadI32(&dim) || !r.ReadI32(&fields) ||
      !r.ReadInts(kMaxLayers, &config.bottom_hidden) ||
      !r.ReadInts(kMaxLayers, &config.tower_hidden) || !r.ReadI32(&tasks)) {
    return DataLossError("base model blob: truncated config");
  }
  config.embedding_dim = dim;
  config.num_fields = fields;
  config.num_tasks = tasks;
  Status valid = ValidateBaseModelConfig(config);
  if (!valid.ok()) return DataLossError("base model blob: corrupt config: " + valid.message());
  size_t expected = Mlp::NumParams(BottomDims(config)) +
                    config.num_tasks * Mlp::NumParams(TowerDims(config));
  std::vector<float> params;
  if (!r.ReadFloats(expected, &params)) {
    return DataLossError("base model blob: parameter block truncated or of the wrong size (expected " +
                         std::to_string(expected) + " floats)");
  }
  if (r.remaining() != 0) {
    return DataLossError("base model blob: " + std::to_string(r.remaining()) +
                         " trailing bytes");
  }
  BaseModel model(config);
  model.params_ = std::move(params);
  model.BindLayers();
  return model;
}

}  // namespace iak::model
