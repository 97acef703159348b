#include "model/adam.h"

#include <cmath>
#include <utility>

#include <glog/logging.h>

#include "model/byte_io.h"

namespace iak::model {
namespace {

constexpr uint64_t kMagic = 0x314d4144414b4149ULL;  // "IAKADAM1"

}  // namespace

Adam::Adam(size_t num_params, const AdamOptions& options)
    : options_(options), m_(num_params, 0.0f), v_(num_params, 0.0f) {}

void Adam::Step(float* params, const float* grads) {
  Step(params, grads, {ParamRange{0, m_.size()}});
}

void Adam::Step(float* params, const float* grads,
                const std::vector<ParamRange>& ranges) {
  ++step_;
  // Textbook form (explicit m_hat, v_hat) so a step can be checked by hand.
  const double t = static_cast<double>(step_);
  const float c1 = static_cast<float>(1.0 - std::pow(options_.beta1, t));
  const float c2 = static_cast<float>(1.0 - std::pow(options_.beta2, t));
  for (const ParamRange& r : ranges) {
    CHECK_LE(r.begin, r.end);
    CHECK_LE(r.end, m_.size());
    const float b1 = options_.beta1, b2 = options_.beta2;
    for (size_t i = r.begin; i < r.end; ++i) {
      const float g = grads[i];
      m_[i] = b1 * m_[i] + (1.0f - b1) * g;
      v_[i] = b2 * v_[i] + (1.0f - b2) * g * g;
      const float m_hat = m_[i] / c1;
      const float v_hat = v_[i] / c2;
      params[i] -= options_.lr * m_hat / (std::sqrt(v_hat) + options_.eps);
    }
  }
}

std::string Adam::Serialize() const {
  ByteWriter w;
  w.WriteU64(kMagic);
  w.WriteF32(options_.lr);
  w.WriteF32(options_.beta1);
  w.WriteF32(options_.beta2);
  w.WriteF32(options_.eps);
  w.WriteI64(step_);
  w.WriteFloats(m_.data(), m_.size());
  w.WriteFloats(v_.data(), v_.size());
  return w.Release();
}

Status Adam::Deserialize(std::string_view blob) {
  ByteReader r(blob);
  uint64_t magic = 0;
  if (!r.ReadU64(&magic) || magic != kMagic) {
    return DataLossError("adam state: bad magic header (not optimizer state, or truncated)");
  }
  AdamOptions options;
  int64_t step = 0;
  if (!r.ReadF32(&options.lr) || !r.ReadF32(&options.beta1) ||
      !r.ReadF32(&options.beta2) || !r.ReadF32(&options.eps) ||
      !r.ReadI64(&step) || step < 0) {
    return DataLossError("adam state: truncated or corrupt header");
  }
  std::vector<float> m, v;
  if (!r.ReadFloats(m_.size(), &m) || !r.ReadFloats(v_.size(), &v)) {
    return DataLossError("adam state: moments truncated or sized for another model (expected " +
                         std::to_string(m_.size()) + " parameters)");
  }
  if (r.remaining() != 0) return DataLossError("adam state: trailing bytes");
  options_ = options;
  step_ = step;
  m_ = std::move(m);
  v_ = std::move(v);
  return Status::Ok();
}

}  // namespace iak::model
