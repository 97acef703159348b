#include "model/adapter_step_engine.h"

namespace iak::model {

StatusOr<StepStats> CpuAdapterStepEngine::Run(const BaseModel& base, IakModule* iak,
                                              IakPhase phase, float beta,
                                              const AdapterBatch& batch, float* h_out) {
  if (batch.n == 0) {
    iak->ZeroGrads();
    return StepStats();
  }
  const float* h = batch.h;
  if (h == nullptr) {
    float* bottom = h_out;
    if (bottom == nullptr) {
      h_.resize(static_cast<size_t>(batch.n) * base.config().h_dim());
      bottom = h_.data();
    }
    step_.ForwardBottom(base, batch.x, batch.n, bottom);
    h = bottom;
  }
  return step_.RunOnH(base, iak, phase, beta, h, batch.n, batch.click, batch.conversion,
                      batch.eps);
}

}  // namespace iak::model
