// BaseModel: the dense part of the pre-trained recommender.
//
//   x = [pooled field embeddings]  [batch x num_fields*embedding_dim]
//     -> bottom MLP (ReLU after every layer)   -> h [batch x bottom_hidden.back()]
//     -> one tower per task (ReLU MLP, 1 logit) -> logits [batch x num_tasks]
//
// num_tasks == 1 is a CTR model; num_tasks == 2 is ESMM (tower 0 -> pCTR
// logit, tower 1 -> pCVR logit; see loss.h).
//
// All parameters live in one flat vector params() (bottom first, then tower
// 0, tower 1, ...), with grads() of the same layout. Forward/backward are
// const and keep their activations in a caller-owned BaseModelWorkspace, so a
// frozen model can be shared by several trainer threads, each with its own
// workspace. Gradients go into a caller-chosen flat span (usually
// mutable_grads()->data()); passing null skips them entirely, which is how the
// frozen model costs nothing for its weight gradients during fine-tuning.
#ifndef IAK_MODEL_BASE_MODEL_H_
#define IAK_MODEL_BASE_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/mlp.h"
#include "model/param_buffers.h"
#include "model/param_range.h"

namespace iak::model {

struct BaseModelConfig {
  // Floats per embedding row (and per pooled field in x).
  int embedding_dim = 16;
  // Feature fields pooled into x: input_dim() = num_fields * embedding_dim.
  int num_fields = 1;
  // Widths of the bottom MLP; the last entry is the dimension of h. Non-empty.
  std::vector<int> bottom_hidden{64, 32};
  // Hidden widths of each task tower (may be empty: h -> logit directly).
  std::vector<int> tower_hidden{32};
  int num_tasks = 1;  // 1 = CTR, 2 = ESMM CTR + CVR

  int input_dim() const { return num_fields * embedding_dim; }
  int h_dim() const { return bottom_hidden.back(); }
};

// InvalidArgument naming the bad field when `config` cannot build a model.
Status ValidateBaseModelConfig(const BaseModelConfig& config);

// Activations between a forward and its backward; one per thread.
struct BaseModelWorkspace {
  MlpWorkspace bottom;
  std::vector<MlpWorkspace> towers;
  std::vector<float> column;  // one task's logits or dlogits, [batch]
  std::vector<float> dh;      // one tower's input gradient, [batch x h]
};

class BaseModel : public ParamBuffers {
 public:
  // CHECK-fails on an invalid config (validate user input first). Parameters
  // start at zero; call Init() or Deserialize().
  explicit BaseModel(const BaseModelConfig& config);

  BaseModel(const BaseModel& other);
  BaseModel& operator=(const BaseModel& other);
  BaseModel(BaseModel&& other) noexcept;
  BaseModel& operator=(BaseModel&& other) noexcept;

  // He/Xavier initialisation, deterministic in `seed`.
  void Init(uint64_t seed);

  const BaseModelConfig& config() const { return config_; }
  ParamRange bottom_param_range() const;
  ParamRange tower_param_range(int task) const;

  // h[batch x h_dim] from x[batch x input_dim]. x must stay alive and
  // unchanged until BackwardBottom.
  void ForwardBottom(const float* x, int batch, float* h,
                     BaseModelWorkspace* ws) const;
  // logits[batch x num_tasks] from h. h must stay alive until BackwardTowers.
  void ForwardTowers(const float* h, int batch, float* logits,
                     BaseModelWorkspace* ws) const;
  // dh (overwritten) from dlogits[batch x num_tasks]; param_grads (flat,
  // layout of params(), accumulated) skipped when null.
  void BackwardTowers(const float* dlogits, int batch, float* dh,
                      float* param_grads, BaseModelWorkspace* ws) const;
  // dx (overwritten) from dh; each output skipped when null.
  void BackwardBottom(const float* dh, int batch, float* dx,
                      float* param_grads, BaseModelWorkspace* ws) const;

  // Config and parameters as a self-describing blob (magic + version).
  std::string Serialize() const;
  // DataLoss on a truncated or corrupt blob (including a config that fails
  // ValidateBaseModelConfig). Never crashes on bad input.
  static StatusOr<BaseModel> Deserialize(std::string_view blob);

 private:
  void BindLayers();

  BaseModelConfig config_;
  Mlp bottom_;
  std::vector<Mlp> towers_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_BASE_MODEL_H_
