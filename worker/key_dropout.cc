#include "worker/key_dropout.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/keys.h"

namespace iak::worker {

StatusOr<KeyDropout> KeyDropout::For(const proto::PretrainSpec& spec, const data::Dataset& data,
                                     int dim, uint64_t seed) {
  const float rate = spec.key_dropout();
  if (!(rate >= 0.0f && rate < 1.0f)) {
    return InvalidArgumentError("pretrain.key_dropout must be in [0, 1), not " +
                                std::to_string(rate));
  }
  std::vector<std::string> names(spec.key_dropout_fields().begin(),
                                 spec.key_dropout_fields().end());
  if (names.empty()) names = {"user", "movie"};
  KeyDropout dropout;
  dropout.rate_ = rate;
  dropout.seed_ = Mix64(seed ^ 0x6b657964726f70ULL);
  dropout.num_fields_ = data.num_fields();
  dropout.dim_ = dim;
  for (int f = 0; f < data.num_fields(); ++f) {
    if (std::find(names.begin(), names.end(), data.fields[f].name) != names.end()) {
      dropout.fields_.push_back(f);
    }
  }
  return dropout;
}

void KeyDropout::Draw(int64_t step, const uint32_t* ids, int n) {
  dropped_.assign(static_cast<size_t>(n) * num_fields_, 0);
  if (!enabled()) return;
  const uint64_t at_step = Mix64(seed_ ^ static_cast<uint64_t>(step));
  for (int r = 0; r < n; ++r) {
    const uint64_t sample = Mix64(at_step ^ ids[r]);
    for (int f : fields_) {
      const float u = HashToUnitFloat(Mix64(sample + static_cast<uint64_t>(f)));
      dropped_[static_cast<size_t>(r) * num_fields_ + f] = u < rate_;
    }
  }
}

void KeyDropout::Apply(float* rows, int n) const {
  if (!enabled()) return;
  const size_t width = static_cast<size_t>(num_fields_) * dim_;
  for (int r = 0; r < n; ++r) {
    for (int f : fields_) {
      if (dropped_[static_cast<size_t>(r) * num_fields_ + f]) {
        std::fill_n(rows + r * width + static_cast<size_t>(f) * dim_, dim_, 0.0f);
      }
    }
  }
}

}  // namespace iak::worker
