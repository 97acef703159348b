// Field pooling: turns a batch of samples into the dense input x of the base
// model by looking up each key's embedding row and pooling per field.
//
// x is [batch x num_fields*dim]; field f of sample r occupies
// x[r][f*dim .. (f+1)*dim). Pooling follows FieldInfo::pooling:
//   kSum:  sum of the field's rows;
//   kMean: that sum divided by the number of keys the sample has in the
//          field (a key missing from the table counts, as a zero row).
// A field with no keys pools to zeros.
//
// The lookup and the gradient sink are interfaces so the same code serves a
// local hash map (pre-training, tests) and rows pulled from parameter servers.
//
// Thread-safety: the functions are reentrant; RowLookup::Find must be safe
// to call concurrently if the caller pools from several threads.
#ifndef IAK_MODEL_EMBEDDING_POOLING_H_
#define IAK_MODEL_EMBEDDING_POOLING_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "data/dataset.h"

namespace iak::model {

class RowLookup {
 public:
  virtual ~RowLookup() = default;
  // The `dim` floats of `key`'s row, or null when the table lacks the key
  // (it then pools as a zero row). The pointer must stay valid for the call.
  virtual const float* Find(uint64_t key) const = 0;
};

class RowGradientSink {
 public:
  virtual ~RowGradientSink() = default;
  // Adds `grad` (dim floats) to key's gradient. Called once per key
  // occurrence, in sample order, so accumulation is deterministic.
  virtual void Add(uint64_t key, const float* grad) = 0;
};

// Pools samples sample_ids[0..batch) of `data` into x.
void PoolBatch(const data::Dataset& data, const uint32_t* sample_ids,
               int batch, int dim, const RowLookup& rows, float* x);

// Pools one sample into out [num_fields x dim] from the rows of its key
// occurrences: row(k) is the row (dim floats, never null: a zero row for an
// absent key) of the sample's k-th key, fields in order. A field with one key
// copies its row; otherwise its rows are summed in key order from zero, then
// divided by the count for mean pooling. The one pooling of the workers'
// batches (PulledRows, ResolvedRows): one arithmetic, hence the same floats
// whichever way the rows were found. (PoolBatch, which skips absent keys,
// gives the same numbers except for the sign of a zero.)
template <typename RowOf>
void PoolSampleRows(const data::Dataset& data, size_t sample, int dim, RowOf row, float* out) {
  const int fields = data.num_fields();
  const size_t first = sample * static_cast<size_t>(fields);
  const uint64_t base = data.offsets[first];
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(dim);
  for (int f = 0; f < fields; ++f, out += dim) {
    const size_t begin = data.offsets[first + f] - base;
    const size_t count = data.offsets[first + f + 1] - data.offsets[first + f];
    if (count == 1) {  // single-valued: a copy
      // A copy of known size is a few inline moves, not a call into libc's
      // size-dispatching memcpy (once per field of every sample).
      if (dim == 16) {
        std::memcpy(out, row(begin), 16 * sizeof(float));
      } else {
        std::memcpy(out, row(begin), row_bytes);
      }
      continue;
    }
    std::memset(out, 0, row_bytes);
    for (size_t i = 0; i < count; ++i) {
      const float* r = row(begin + i);
      for (int j = 0; j < dim; ++j) out[j] += r[j];
    }
    if (data.fields[f].pooling == data::Pooling::kMean && count > 1) {
      const float inv = 1.0f / static_cast<float>(count);
      for (int j = 0; j < dim; ++j) out[j] *= inv;
    }
  }
}

// Backward of PoolBatch: for every key occurrence, hands sink its share of
// dx (the field's slice, divided by the key count for mean pooling).
// `scratch` holds dim floats.
void ScatterPoolGradient(const data::Dataset& data, const uint32_t* sample_ids,
                         int batch, int dim, const float* dx,
                         RowGradientSink* sink, float* scratch);

}  // namespace iak::model

#endif  // IAK_MODEL_EMBEDDING_POOLING_H_
