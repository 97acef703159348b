#include "model/embedding_pooling.h"

#include <cstring>

#include "model/matrix_ops.h"

namespace iak::model {

void PoolBatch(const data::Dataset& data, const uint32_t* sample_ids,
               int batch, int dim, const RowLookup& rows, float* x) {
  const int fields = data.num_fields();
  const size_t row_width = static_cast<size_t>(fields) * dim;
  std::memset(x, 0, sizeof(float) * row_width * batch);
  for (int r = 0; r < batch; ++r) {
    for (int f = 0; f < fields; ++f) {
      float* out = x + r * row_width + static_cast<size_t>(f) * dim;
      size_t count = 0;
      const uint64_t* keys = data.FieldKeys(sample_ids[r], f, &count);
      for (size_t i = 0; i < count; ++i) {
        const float* row = rows.Find(keys[i]);
        if (row != nullptr) AddInPlace(row, dim, out);
      }
      if (data.fields[f].pooling == data::Pooling::kMean && count > 1) {
        ScaleInPlace(1.0f / static_cast<float>(count), dim, out);
      }
    }
  }
}

void ScatterPoolGradient(const data::Dataset& data, const uint32_t* sample_ids,
                         int batch, int dim, const float* dx,
                         RowGradientSink* sink, float* scratch) {
  const int fields = data.num_fields();
  const size_t row_width = static_cast<size_t>(fields) * dim;
  for (int r = 0; r < batch; ++r) {
    for (int f = 0; f < fields; ++f) {
      const float* g = dx + r * row_width + static_cast<size_t>(f) * dim;
      size_t count = 0;
      const uint64_t* keys = data.FieldKeys(sample_ids[r], f, &count);
      if (count == 0) continue;
      if (data.fields[f].pooling == data::Pooling::kMean && count > 1) {
        const float inv = 1.0f / static_cast<float>(count);
        for (int j = 0; j < dim; ++j) scratch[j] = g[j] * inv;
        g = scratch;
      }
      for (size_t i = 0; i < count; ++i) sink->Add(keys[i], g);
    }
  }
}

}  // namespace iak::model
