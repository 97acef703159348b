#include "worker/resolved_rows.h"

#include <cstring>

namespace iak::worker {

ResolvedRows::ResolvedRows(const data::Dataset& data, const MemoryRowSource* table)
    : table_(table), row_of_key_(data.keys.size()) {
  table->FindRows(data.keys.data(), data.keys.size(), row_of_key_.data());
}

void ResolvedRows::Pool(const data::Dataset& data, const uint32_t* ids, int n, float* x) const {
  const int fields = data.num_fields();
  const int dim = table_->dim();
  const size_t width = static_cast<size_t>(fields) * dim;
  const size_t row_bytes = sizeof(float) * dim;
  const float* rows = table_->row_data();
  constexpr int kAhead = 4;  // samples whose rows are prefetched ahead
  auto prefetch = [&](uint32_t id) {
    const size_t first = static_cast<size_t>(id) * fields;
    for (uint64_t i = data.offsets[first]; i < data.offsets[first + fields]; ++i) {
      if (row_of_key_[i] != embedding::FrozenKeyIndex::kAbsent) {
        __builtin_prefetch(rows + static_cast<size_t>(row_of_key_[i]) * dim);
      }
    }
  };
  for (int r = 0; r < n && r < kAhead; ++r) prefetch(ids[r]);
  for (int r = 0; r < n; ++r) {
    if (r + kAhead < n) prefetch(ids[r + kAhead]);
    const size_t first = static_cast<size_t>(ids[r]) * fields;
    for (int f = 0; f < fields; ++f) {
      float* out = x + r * width + static_cast<size_t>(f) * dim;
      const uint64_t begin = data.offsets[first + f], end = data.offsets[first + f + 1];
      std::memset(out, 0, row_bytes);
      for (uint64_t i = begin; i < end; ++i) {
        if (row_of_key_[i] == embedding::FrozenKeyIndex::kAbsent) continue;
        const float* row = rows + static_cast<size_t>(row_of_key_[i]) * dim;
        for (int j = 0; j < dim; ++j) out[j] += row[j];
      }
      const uint64_t count = end - begin;
      if (data.fields[f].pooling == data::Pooling::kMean && count > 1) {
        const float inv = 1.0f / static_cast<float>(count);
        for (int j = 0; j < dim; ++j) out[j] *= inv;
      }
    }
  }
}

}  // namespace iak::worker
