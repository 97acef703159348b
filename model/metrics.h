// Offline evaluation metrics: ROC AUC and log loss.
//
// Thread-safety: pure functions.
#ifndef IAK_MODEL_METRICS_H_
#define IAK_MODEL_METRICS_H_

#include <cstddef>
#include <vector>

#include "common/status.h"

namespace iak::model {

// Exact ROC AUC (the Mann-Whitney statistic) of `scores` against binary
// `labels` (> 0.5 is positive); tied scores get their average rank, so a tie
// between a positive and a negative counts one half. O(n log n).
// FailedPrecondition when the labels hold a single class (AUC undefined) or
// n == 0.
StatusOr<double> RocAuc(const float* scores, const float* labels, size_t n);
StatusOr<double> RocAuc(const std::vector<float>& scores,
                        const std::vector<float>& labels);

// Mean binary cross-entropy of probabilities `probs` against `labels`,
// probabilities clamped to [eps, 1 - eps] with eps = 1e-7. 0 when n == 0.
double LogLoss(const float* probs, const float* labels, size_t n);

// ROC AUC of the CTCVR task: scores p_ctcvr (= pCTR * pCVR), positive iff
// click > 0.5 and conversion > 0.5. FailedPrecondition like RocAuc when only
// one class is present; InvalidArgument on length mismatch.
StatusOr<double> CtcvrAuc(const std::vector<float>& p_ctcvr, const std::vector<float>& click,
                          const std::vector<float>& conversion);

}  // namespace iak::model

#endif  // IAK_MODEL_METRICS_H_
