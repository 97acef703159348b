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

#include <cstdint>

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

// Backward of PoolBatch: for every key occurrence, hands sink its share of
// dx (the field's slice, divided by the key count for mean pooling).
// `scratch` holds dim floats.
void ScatterPoolGradient(const data::Dataset& data, const uint32_t* sample_ids,
                         int batch, int dim, const float* dx,
                         RowGradientSink* sink, float* scratch);

}  // namespace iak::model

#endif  // IAK_MODEL_EMBEDDING_POOLING_H_
