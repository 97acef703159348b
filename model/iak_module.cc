#include "model/iak_module.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include <glog/logging.h>

#include "model/byte_io.h"
#include "model/matrix_ops.h"
#include "model/standard_normals.h"

namespace iak::model {
namespace {

constexpr uint64_t kMagic = 0x31304d4f444b4149ULL;  // "IAKMOD01"
// Version 2 adds IakConfig::columns; a module without columns is written as
// version 1, byte for byte as before.
constexpr uint32_t kVersion = 1;
constexpr uint32_t kVersionWithColumns = 2;
constexpr int kMaxWidth = 1 << 16;
constexpr size_t kMaxLayers = 64;
// logvar is clamped so exp() stays finite; outside the range its gradient
// is zero, like any clamp.
constexpr float kLogVarMin = -20.0f;
constexpr float kLogVarMax = 20.0f;

void EnsureSize(std::vector<float>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

int EncoderOutDim(const IakConfig& c) {
  return c.plain_adapter ? c.latent_dim : 2 * c.latent_dim;
}

std::vector<int> EncoderDims(const IakConfig& c) {
  Status valid = ValidateIakConfig(c);
  CHECK(valid.ok()) << valid;
  std::vector<int> dims{c.adapted_width()};
  dims.insert(dims.end(), c.encoder_hidden.begin(), c.encoder_hidden.end());
  dims.push_back(EncoderOutDim(c));
  return dims;
}

std::vector<int> DecoderDims(const IakConfig& c) {
  std::vector<int> dims{c.latent_dim};
  dims.insert(dims.end(), c.decoder_hidden.begin(), c.decoder_hidden.end());
  dims.push_back(c.adapted_width());
  return dims;
}

bool WidthOk(int w) { return w > 0 && w <= kMaxWidth; }

// out[r, j] = in[r, columns[j]], rows of `width`.
void GatherColumns(const float* in, int batch, int width, const std::vector<int>& columns,
                   float* out) {
  const size_t m = columns.size();
  for (int r = 0; r < batch; ++r) {
    const float* row = in + static_cast<size_t>(r) * width;
    float* dst = out + static_cast<size_t>(r) * m;
    for (size_t j = 0; j < m; ++j) dst[j] = row[columns[j]];
  }
}

// out = in, then out[r, columns[j]] += add[r, j].
void AddToColumns(const float* in, const float* add, int batch, int width,
                  const std::vector<int>& columns, float* out) {
  const size_t m = columns.size();
  std::memcpy(out, in, sizeof(float) * static_cast<size_t>(batch) * width);
  for (int r = 0; r < batch; ++r) {
    float* row = out + static_cast<size_t>(r) * width;
    const float* src = add + static_cast<size_t>(r) * m;
    for (size_t j = 0; j < m; ++j) row[columns[j]] += src[j];
  }
}

}  // namespace

Status ValidateIakConfig(const IakConfig& c) {
  if (!WidthOk(c.input_dim)) {
    return InvalidArgumentError("iak: input_dim must be in [1, 65536], got " +
                                std::to_string(c.input_dim));
  }
  if (!WidthOk(c.latent_dim)) {
    return InvalidArgumentError("iak: latent_dim must be in [1, 65536], got " +
                                std::to_string(c.latent_dim));
  }
  if (c.encoder_hidden.size() > kMaxLayers || c.decoder_hidden.size() > kMaxLayers) {
    return InvalidArgumentError("iak: at most 64 hidden layers per side");
  }
  for (int w : c.encoder_hidden) {
    if (!WidthOk(w)) return InvalidArgumentError("iak: bad encoder_hidden width " + std::to_string(w));
  }
  for (int w : c.decoder_hidden) {
    if (!WidthOk(w)) return InvalidArgumentError("iak: bad decoder_hidden width " + std::to_string(w));
  }
  for (size_t j = 0; j < c.columns.size(); ++j) {
    if (c.columns[j] < 0 || c.columns[j] >= c.input_dim ||
        (j > 0 && c.columns[j] <= c.columns[j - 1])) {
      return InvalidArgumentError("iak: columns must be strictly increasing in [0, input_dim)");
    }
  }
  if (!(c.initial_logvar >= kLogVarMin && c.initial_logvar <= kLogVarMax)) {
    return InvalidArgumentError("iak: initial_logvar must be in [-20, 20], got " +
                                std::to_string(c.initial_logvar));
  }
  return Status::Ok();
}

IakModule::IakModule(const IakConfig& config)
    : config_(config),
      encoder_(EncoderDims(config), Activation::kNone),
      decoder_(DecoderDims(config), Activation::kNone) {
  AllocateParams(encoder_.num_params() + decoder_.num_params());
  BindLayers();
}

IakModule::IakModule(const IakModule& other)
    : ParamBuffers(other),
      config_(other.config_),
      encoder_(other.encoder_),
      decoder_(other.decoder_) {
  BindLayers();
}

// A copy (with a fresh workspace, as the copy constructor leaves it), then a
// move: the move assignment is the one place that rebinds.
IakModule& IakModule::operator=(const IakModule& other) {
  if (this != &other) *this = IakModule(other);
  return *this;
}

// Moves rebind too: the layers must never point into another object.
IakModule::IakModule(IakModule&& other) noexcept
    : ParamBuffers(std::move(other)),
      config_(std::move(other.config_)),
      encoder_(std::move(other.encoder_)),
      decoder_(std::move(other.decoder_)),
      ws_(std::move(other.ws_)) {
  BindLayers();
}

IakModule& IakModule::operator=(IakModule&& other) noexcept {
  if (this == &other) return *this;
  config_ = std::move(other.config_);
  encoder_ = std::move(other.encoder_);
  decoder_ = std::move(other.decoder_);
  params_ = std::move(other.params_);
  grads_ = std::move(other.grads_);
  ws_ = std::move(other.ws_);
  BindLayers();
  return *this;
}

void IakModule::BindLayers() {
  encoder_.Bind(params_.data() + encoder_param_range().begin);
  decoder_.Bind(params_.data() + decoder_param_range().begin);
}

int IakModule::encoder_out_dim() const { return EncoderOutDim(config_); }

ParamRange IakModule::encoder_param_range() const {
  return ParamRange{0, encoder_.num_params()};
}

ParamRange IakModule::decoder_param_range() const {
  return ParamRange{encoder_.num_params(),
                    encoder_.num_params() + decoder_.num_params()};
}

void IakModule::Init(uint64_t seed) {
  std::mt19937_64 rng(seed);
  float* encoder = params_.data() + encoder_param_range().begin;
  encoder_.Init(&rng, /*zero_last=*/false, encoder);
  decoder_.Init(&rng, /*zero_last=*/true,
                params_.data() + decoder_param_range().begin);
  if (config_.plain_adapter) return;
  // The last encoder layer's bias follows its weights: outputs [mu | logvar].
  const int last = encoder_.num_layers() - 1;
  const int k = config_.latent_dim;
  const size_t in_dim = last > 0 ? config_.encoder_hidden.back() : config_.adapted_width();
  float* bias = encoder + encoder_.layer_offset(last) + in_dim * 2 * k;
  std::fill(bias + k, bias + 2 * k, config_.initial_logvar);
}

void IakModule::DrawEps(int batch, int latent_dim, std::mt19937_64* rng, float* eps) {
  DrawStandardNormals(rng, static_cast<size_t>(batch) * latent_dim, eps);
}

void IakModule::DrawEps(int batch, int latent_dim, Mt19937_64* rng, float* eps) {
  DrawStandardNormals(rng, static_cast<size_t>(batch) * latent_dim, eps);
}

float IakModule::Forward(const float* h, int batch, bool training,
                         std::mt19937_64* rng, float* h_out) {
  const float* eps = nullptr;
  if (training && !config_.plain_adapter) {
    CHECK(rng != nullptr) << "training needs an rng for eps";
    EnsureSize(&ws_.eps, static_cast<size_t>(batch) * config_.latent_dim);
    DrawEps(batch, config_.latent_dim, rng, ws_.eps.data());
    eps = ws_.eps.data();
  }
  const double kl = ForwardImpl(h, batch, eps, h_out, &ws_);
  return batch > 0 ? static_cast<float>(kl / batch) : 0.0f;
}

void IakModule::Infer(const float* h, int batch, float* h_out,
                      IakWorkspace* ws) const {
  ForwardImpl(h, batch, /*eps=*/nullptr, h_out, ws);
}

double IakModule::TrainForward(const float* h, int batch, const float* eps, float* h_out,
                               IakWorkspace* ws) const {
  CHECK(eps != nullptr || config_.plain_adapter) << "training needs eps";
  return ForwardImpl(h, batch, eps, h_out, ws);
}

const float* IakModule::ReadColumns(const float* in, int batch,
                                    std::vector<float>* scratch) const {
  if (config_.columns.empty()) return in;
  EnsureSize(scratch, static_cast<size_t>(batch) * config_.columns.size());
  GatherColumns(in, batch, config_.input_dim, config_.columns, scratch->data());
  return scratch->data();
}

double IakModule::ForwardImpl(const float* h, int batch, const float* eps_in,
                              float* h_out, IakWorkspace* ws) const {
  CHECK(h != h_out) << "IAK forward cannot run in place: backward reads h";
  const int k = config_.latent_dim;
  const int enc_dim = encoder_out_dim();
  const size_t n_z = static_cast<size_t>(batch) * k;
  const size_t n_h = static_cast<size_t>(batch) * config_.input_dim;
  const size_t n_read = static_cast<size_t>(batch) * config_.adapted_width();
  ws->batch = batch;
  EnsureSize(&ws->enc_out, static_cast<size_t>(batch) * enc_dim);
  EnsureSize(&ws->eps, n_z);
  EnsureSize(&ws->z, n_z);
  EnsureSize(&ws->delta, n_read);
  const float* read = ReadColumns(h, batch, &ws->h_columns);

  encoder_.Forward(read, batch, ws->enc_out.data(), &ws->encoder);
  double kl = 0.0;
  if (config_.plain_adapter) {
    std::memcpy(ws->z.data(), ws->enc_out.data(), sizeof(float) * n_z);
  } else {
    // Backward reads the noise from the workspace.
    if (eps_in == nullptr) {
      std::fill(ws->eps.begin(), ws->eps.begin() + n_z, 0.0f);
    } else if (eps_in != ws->eps.data()) {
      std::memcpy(ws->eps.data(), eps_in, sizeof(float) * n_z);
    }
    for (int r = 0; r < batch; ++r) {
      const float* mu = ws->enc_out.data() + static_cast<size_t>(r) * enc_dim;
      const float* logvar = mu + k;
      const float* eps = ws->eps.data() + static_cast<size_t>(r) * k;
      float* z = ws->z.data() + static_cast<size_t>(r) * k;
      float row_kl = 0.0f;
      for (int j = 0; j < k; ++j) {
        const float lv = std::clamp(logvar[j], kLogVarMin, kLogVarMax);
        const float var = std::exp(lv);
        z[j] = mu[j] + std::sqrt(var) * eps[j];
        row_kl += var + mu[j] * mu[j] - 1.0f - lv;
      }
      kl += 0.5 * row_kl;
    }
  }
  decoder_.Forward(ws->z.data(), batch, ws->delta.data(), &ws->decoder);
  if (config_.columns.empty()) {
    for (size_t i = 0; i < n_h; ++i) h_out[i] = h[i] + ws->delta[i];
  } else {
    AddToColumns(h, ws->delta.data(), batch, config_.input_dim, config_.columns, h_out);
  }
  return kl;
}

void IakModule::Backward(const float* dh_out, float beta, IakPhase phase,
                         float* dh_in) {
  TrainBackward(dh_out, beta, ws_.batch, phase, grads_.data(), dh_in, &ws_);
}

void IakModule::TrainBackward(const float* dh_out, float beta, int loss_batch,
                              IakPhase phase, float* grads, float* dh_in,
                              IakWorkspace* ws) const {
  const int batch = ws->batch;
  const int k = config_.latent_dim;
  const int enc_dim = encoder_out_dim();
  const size_t n_h = static_cast<size_t>(batch) * config_.input_dim;
  const size_t n_read = static_cast<size_t>(batch) * config_.adapted_width();
  const bool train_encoder = phase == IakPhase::kCompression;
  EnsureSize(&ws->dz, static_cast<size_t>(batch) * k);
  EnsureSize(&ws->d_enc, static_cast<size_t>(batch) * enc_dim);
  EnsureSize(&ws->dh_enc, n_read);

  // delta = decoder(z) feeds h_out additively (on the read columns), so
  // d delta = dh_out (those columns of it).
  const float* d_delta = ReadColumns(dh_out, batch, &ws->dout_columns);
  decoder_.Backward(d_delta, batch, ws->dz.data(),
                    grads + decoder_param_range().begin, &ws->decoder);
  if (!train_encoder && dh_in == nullptr) return;

  if (config_.plain_adapter) {
    std::memcpy(ws->d_enc.data(), ws->dz.data(),
                sizeof(float) * static_cast<size_t>(batch) * k);
  } else {
    const float kl_scale = beta / static_cast<float>(std::max(loss_batch, 1));
    for (int r = 0; r < batch; ++r) {
      const float* mu = ws->enc_out.data() + static_cast<size_t>(r) * enc_dim;
      const float* logvar = mu + k;
      const float* eps = ws->eps.data() + static_cast<size_t>(r) * k;
      const float* dz = ws->dz.data() + static_cast<size_t>(r) * k;
      float* dmu = ws->d_enc.data() + static_cast<size_t>(r) * enc_dim;
      float* dlogvar = dmu + k;
      for (int j = 0; j < k; ++j) {
        dmu[j] = dz[j] + kl_scale * mu[j];
        if (logvar[j] < kLogVarMin || logvar[j] > kLogVarMax) {
          dlogvar[j] = 0.0f;
          continue;
        }
        const float var = std::exp(logvar[j]);
        // z = mu + exp(lv/2) eps  =>  dz/dlv = 0.5 exp(lv/2) eps.
        dlogvar[j] = dz[j] * 0.5f * std::sqrt(var) * eps[j] +
                     kl_scale * 0.5f * (var - 1.0f);
      }
    }
  }
  float* enc_grads =
      train_encoder ? grads + encoder_param_range().begin : nullptr;
  float* dh_enc = dh_in == nullptr ? nullptr : ws->dh_enc.data();
  encoder_.Backward(ws->d_enc.data(), batch, dh_enc, enc_grads, &ws->encoder);
  if (dh_in != nullptr) {
    // h reaches h_out both directly and through the encoder.
    if (config_.columns.empty()) {
      for (size_t i = 0; i < n_h; ++i) dh_in[i] = dh_out[i] + ws->dh_enc[i];
    } else {
      AddToColumns(dh_out, ws->dh_enc.data(), batch, config_.input_dim, config_.columns, dh_in);
    }
  }
}

std::string IakModule::Serialize() const {
  ByteWriter w;
  w.WriteU64(kMagic);
  w.WriteU32(config_.columns.empty() ? kVersion : kVersionWithColumns);
  w.WriteI32(config_.input_dim);
  w.WriteI32(config_.latent_dim);
  w.WriteInts(config_.encoder_hidden);
  w.WriteInts(config_.decoder_hidden);
  w.WriteU32(config_.plain_adapter ? 1 : 0);
  if (!config_.columns.empty()) w.WriteInts(config_.columns);
  w.WriteFloats(params_.data(), params_.size());
  return w.Release();
}

StatusOr<IakModule> IakModule::Deserialize(std::string_view blob) {
  ByteReader r(blob);
  uint64_t magic = 0;
  uint32_t version = 0;
  if (!r.ReadU64(&magic) || magic != kMagic) {
    return DataLossError("iak blob: bad magic header (not an IAK module, or truncated)");
  }
  if (!r.ReadU32(&version) || (version != kVersion && version != kVersionWithColumns)) {
    return DataLossError("iak blob: unsupported version " + std::to_string(version));
  }
  IakConfig config;
  int32_t input_dim = 0, latent_dim = 0;
  uint32_t plain = 0;
  if (!r.ReadI32(&input_dim) || !r.ReadI32(&latent_dim) ||
      !r.ReadInts(kMaxLayers, &config.encoder_hidden) ||
      !r.ReadInts(kMaxLayers, &config.decoder_hidden) || !r.ReadU32(&plain) ||
      plain > 1) {
    return DataLossError("iak blob: truncated or corrupt config");
  }
  if (version == kVersionWithColumns &&
      (!r.ReadInts(kMaxWidth, &config.columns) || config.columns.empty())) {
    return DataLossError("iak blob: truncated or corrupt column list");
  }
  config.input_dim = input_dim;
  config.latent_dim = latent_dim;
  config.plain_adapter = plain == 1;
  Status valid = ValidateIakConfig(config);
  if (!valid.ok()) return DataLossError("iak blob: corrupt config: " + valid.message());
  const size_t expected =
      Mlp::NumParams(EncoderDims(config)) + Mlp::NumParams(DecoderDims(config));
  std::vector<float> params;
  if (!r.ReadFloats(expected, &params)) {
    return DataLossError("iak blob: parameter block truncated or of the wrong size (expected " +
                         std::to_string(expected) + " floats)");
  }
  if (r.remaining() != 0) {
    return DataLossError("iak blob: " + std::to_string(r.remaining()) + " trailing bytes");
  }
  IakModule module(config);
  module.params_ = std::move(params);
  module.BindLayers();
  return module;
}

}  // namespace iak::model
