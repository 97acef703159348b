// FineTuneStep: one IAK fine-tuning step on a batch, and batch prediction.
//
// Run() does, for x = pooled embeddings of the batch:
//   zero iak grads -> h = base bottom(x) (no grads) -> h' = IAK(h, training)
//   -> logits = base towers(h') -> task loss -> dh' through the frozen towers
//   (input gradient only) -> IAK backward with beta * KL.
// The base model is frozen: none of its parameter gradients are computed.
// Afterwards the caller all-reduces iak->grads() and steps its optimizer.
//
// Thread-safety: a FineTuneStep owns the scratch of one trainer thread; use
// one per thread. The BaseModel may be shared between threads.
#ifndef IAK_MODEL_FINE_TUNE_STEP_H_
#define IAK_MODEL_FINE_TUNE_STEP_H_

#include <random>
#include <vector>

#include "model/base_model.h"
#include "model/iak_module.h"

namespace iak::model {

struct StepStats {
  float loss = 0.0f;       // task_loss + beta * kl
  float task_loss = 0.0f;  // mean BCE (summed over tasks)
  float kl = 0.0f;         // batch-mean KL (0 for a plain adapter)
};

// The stats of an adapter step from the logits of the whole batch: the task
// loss (dlogits [batch x num_tasks] overwritten with its gradient, as
// TaskLoss), kl_sum's batch mean (0 for an empty batch) and their sum with
// the KL weighted by beta. conversion is read only by a two-task base.
StepStats AdapterStepStats(const float* logits, int batch, int num_tasks, const float* click,
                           const float* conversion, double kl_sum, float beta, float* dlogits);

class FineTuneStep {
 public:
  // x is [batch x base.config().input_dim()]; click [batch]; conversion
  // [batch] is required when the base model has two tasks and ignored
  // otherwise. The IAK config's input_dim must equal the base's h_dim.
  StepStats Run(const BaseModel& base, IakModule* iak, IakPhase phase,
                float beta, const float* x, int batch, const float* click,
                const float* conversion, std::mt19937_64* rng);

  // Inference (z = mu). iak == null scores with the base model alone.
  // p_ctr [batch]; p_ctcvr [batch] (pCTR * pCVR) only for a two-task base
  // model, and may be null.
  void Predict(const BaseModel& base, const IakModule* iak, const float* x,
               int batch, float* p_ctr, float* p_ctcvr);

 private:
  void Resize(const BaseModel& base, int batch);

  BaseModelWorkspace base_ws_;
  IakWorkspace iak_ws_;  // Predict's; Run uses the module's own
  std::vector<float> h_;
  std::vector<float> h_adapted_;
  std::vector<float> logits_;
  std::vector<float> dlogits_;
  std::vector<float> dh_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_FINE_TUNE_STEP_H_
