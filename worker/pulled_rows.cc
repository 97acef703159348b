#include "worker/pulled_rows.h"

namespace iak::worker {

void PulledRows::CollectKeys(const data::Dataset& data, const uint32_t* sample_ids, int batch) {
  keys_.clear();
  index_.clear();
  const int num_fields = data.num_fields();
  for (int i = 0; i < batch; ++i) {
    for (int f = 0; f < num_fields; ++f) {
      size_t count = 0;
      const uint64_t* keys = data.FieldKeys(sample_ids[i], f, &count);
      for (size_t k = 0; k < count; ++k) {
        if (index_.emplace(keys[k], static_cast<uint32_t>(keys_.size())).second) {
          keys_.push_back(keys[k]);
        }
      }
    }
  }
  rows_.resize(keys_.size() * static_cast<size_t>(dim_));
}

}  // namespace iak::worker
