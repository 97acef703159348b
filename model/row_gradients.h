// RowGradients: the gradient of every unique embedding row a batch touched,
// from the gradient w.r.t. the pooled input x (the backward of PoolBatch).
//
// A key that occurs several times (in several samples, or twice in one
// sample's field) gets the sum of its occurrences' shares; under mean
// pooling each occurrence's share is the field's slice of dx divided by the
// sample's key count in that field (ScatterPoolGradient). Keys come out in
// first-seen order, one row of `dim` floats each: the shape a sparse push to
// trainable parameter servers takes (full fine-tuning, worker/method_worker).
//
// Thread-safety: none; one per thread.
#ifndef IAK_MODEL_ROW_GRADIENTS_H_
#define IAK_MODEL_ROW_GRADIENTS_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "data/dataset.h"
#include "model/embedding_pooling.h"

namespace iak::model {

class RowGradients : public RowGradientSink {
 public:
  explicit RowGradients(int dim) : dim_(dim), scratch_(dim) {}

  // Clears, then collects the row gradients of samples ids[0..batch) from
  // dx [batch x num_fields*dim] (the gradient w.r.t. PoolBatch's output).
  void Collect(const data::Dataset& data, const uint32_t* ids, int batch, const float* dx);

  void Clear();
  void Add(uint64_t key, const float* grad) override;
  // Multiplies every gradient by s (e.g. 1 / workers before a push).
  void Scale(float s);

  int dim() const { return dim_; }
  const std::vector<uint64_t>& keys() const { return keys_; }
  const std::vector<float>& grads() const { return grads_; }  // keys().size() * dim

 private:
  int dim_;
  std::unordered_map<uint64_t, size_t> slot_;
  std::vector<uint64_t> keys_;
  std::vector<float> grads_;
  std::vector<float> scratch_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_ROW_GRADIENTS_H_
