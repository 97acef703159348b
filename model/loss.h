// Task loss of the recommender, with its gradient with respect to the logits.
//
// num_tasks == 1 (CTR):   loss = BCE(sigmoid(l0), click)
// num_tasks == 2 (ESMM):  pCTR = sigmoid(l0), pCVR = sigmoid(l1),
//                         pCTCVR = pCTR * pCVR,
//                         loss = BCE(pCTR, click) + BCE(pCTCVR, click * conversion)
// Both are means over the batch. Everything is computed in log space with
// probabilities clamped at kProbEps only where a log would otherwise see 0,
// so saturated logits give finite losses and gradients.
//
// Thread-safety: pure function.
#ifndef IAK_MODEL_LOSS_H_
#define IAK_MODEL_LOSS_H_

namespace iak::model {

inline constexpr float kProbEps = 1e-7f;

// logits and dlogits are [batch x num_tasks]; dlogits is overwritten with
// d loss / d logits. `conversion` may be null only when num_tasks == 1.
// Returns the mean loss (0 for an empty batch).
float TaskLoss(const float* logits, int batch, int num_tasks,
               const float* click, const float* conversion, float* dlogits);

// The same over a slice of a larger batch: returns the loss *summed* over
// these `batch` rows and writes dlogits = grad_scale * d(row loss)/d logits
// (grad_scale = 1 / whole batch size gives the mean loss's gradient).
double TaskLossSum(const float* logits, int batch, int num_tasks,
                   const float* click, const float* conversion, float grad_scale,
                   float* dlogits);

// Adds offset[i] (per-sample key biases) to the CTR logit (column 0) of
// logits [batch x num_tasks]; nothing when offset is null.
void AddCtrLogitOffset(const float* offset, int batch, int num_tasks, float* logits);

// The predictions of logits [batch x num_tasks]: p_ctr = sigmoid(logit 0)
// and, when p_ctcvr is not null (two tasks, ESMM), p_ctcvr = p_ctr *
// sigmoid(logit 1).
void TaskProbabilities(const float* logits, int batch, int num_tasks, float* p_ctr,
                       float* p_ctcvr);

}  // namespace iak::model

#endif  // IAK_MODEL_LOSS_H_
