// DenseTrainStep: one training step of a whole BaseModel, every dense
// parameter trainable, on pooled inputs x:
//   zero grads -> bottom -> towers -> task loss -> backward through towers
//   and bottom into model->mutable_grads(), and into dx when asked.
// The piece that dense-only fine-tuning, LoRA (on the merged parameters) and
// full fine-tuning (which also needs dx, to reach the embedding rows) share,
// on the cluster (worker/method_worker) and in one process (`iak compare`,
// worker/method_runner).
//
// Thread-safety: one per thread (it owns the activations of one step).
#ifndef IAK_MODEL_DENSE_TRAIN_STEP_H_
#define IAK_MODEL_DENSE_TRAIN_STEP_H_

#include <vector>

#include "model/base_model.h"

namespace iak::model {

class DenseTrainStep {
 public:
  // x [batch x input_dim]; click [batch]; conversion [batch] may be null
  // (zeros are used for a two-task model). model->grads() is overwritten with
  // d mean-loss / d params; dx [batch x input_dim] with d loss / d x when not
  // null. Returns the mean task loss (0 for an empty batch).
  float Run(BaseModel* model, const float* x, int batch, const float* click,
            const float* conversion, float* dx);

 private:
  BaseModelWorkspace ws_;
  std::vector<float> h_, dh_, logits_, dlogits_, zeros_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_DENSE_TRAIN_STEP_H_
