#ifndef IAK_MODEL_ADAPTER_STEP_SCRATCH_H_
#define IAK_MODEL_ADAPTER_STEP_SCRATCH_H_

#include <cstddef>
#include <vector>

#include "model/base_model.h"
#include "model/iak_module.h"

namespace iak::model {

// The scratch of a single-threaded adapter step that runs the whole frozen
// model around an adapter (InputAdapterStep on x, AdapterInputGradStep on h):
// the two workspaces and every activation and gradient of one batch, grown
// to the largest batch seen and reused. One step owns one.
struct AdapterStepScratch {
  BaseModelWorkspace base_ws;
  IakWorkspace iak_ws;
  std::vector<float> x_adapted, dx;                 // [batch x input_dim]
  std::vector<float> h, h_adapted, dh, dh_adapted;  // [batch x h_dim]
  std::vector<float> logits, dlogits;               // [batch x num_tasks]

  // Sizes every buffer for `batch` rows of `config`'s model (those a step
  // does not use stay empty or keep their size: a few KB at most).
  void Resize(const BaseModelConfig& config, int batch, bool adapter_on_x) {
    const size_t b = static_cast<size_t>(batch);
    if (adapter_on_x) {
      x_adapted.resize(b * config.input_dim());
      dx.resize(b * config.input_dim());
    } else {
      h_adapted.resize(b * config.h_dim());
      dh_adapted.resize(b * config.h_dim());
    }
    h.resize(b * config.h_dim());
    dh.resize(b * config.h_dim());
    logits.resize(b * config.num_tasks);
    dlogits.resize(b * config.num_tasks);
  }
};

}  // namespace iak::model

#endif  // IAK_MODEL_ADAPTER_STEP_SCRATCH_H_
