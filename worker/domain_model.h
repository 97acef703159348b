// DomainModel: what a fine-tuning method trains for one training unit (a
// domain, or the cold domains' shared adapter), the method seam of the
// Trainer (worker/trainer.h). One implementation per family:
//   AdapterModel (worker/adapter_model.h)  iak, plain: an adapter on h, on
//                                          the pooled input x or on the CTR
//                                          tower, above the frozen base;
//   DenseModel, LoraModel, FrozenModel,    frozen, dense, lora, full: copies
//   FullModel (worker/dense_models.h)      of the dense layers (plus, for
//                                          full, the embedding rows).
//
// A step is split the way data parallelism needs: Gradients() computes this
// rank's local gradients into grads(); the Trainer averages grads() over the
// group; Step() applies the optimizer. Every rank starts from the same
// parameters (seeded) and applies the same averaged gradients, so the models
// stay identical on every rank.
//
// Thread-safety: one thread (the trainer's).
#ifndef IAK_WORKER_DOMAIN_MODEL_H_
#define IAK_WORKER_DOMAIN_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"
#include "worker/batch_pipeline.h"

namespace iak::worker {

// The phase a step runs in, from the job's phase plan.
struct PhaseSettings {
  model::IakPhase phase = model::IakPhase::kCompression;  // adapters only
  float beta = 0;           // KL weight (iak only)
  float learning_rate = 0;  // the phase's, times the unit's lr scale
  int group_size = 1;       // workers averaging this step's gradients
};

class DomainModel {
 public:
  virtual ~DomainModel() = default;

  // True when the model trains nothing (frozen): the trainer then skips its
  // steps and validation.
  virtual bool frozen() const { return false; }
  // Whether the pipeline should pool the batch's rows into x (and may serve
  // it from the frozen-prefix cache); false: the model fetches its own rows
  // (full fine-tuning, whose rows change every step).
  virtual bool wants_pooled_rows() const { return true; }
  // Width the frozen-prefix cache keeps per sample for this model (h_dim for
  // an adapter above the bottom, input_dim for one on x), 0 = no caching.
  virtual int prefix_cache_width() const { return 0; }
  // True when Step() pushes row gradients to shared servers: every rank's
  // push must land before any rank reads the rows again (the trainer waits
  // for the group after the step).
  virtual bool pushes_rows() const { return false; }

  // This rank's gradients of its batch into grads() (an empty batch gives
  // zero gradients: it still joins the average).
  [[nodiscard]] virtual StatusOr<model::StepStats> Gradients(const PreparedBatch& batch,
                                                             const PhaseSettings& phase) = 0;
  virtual float* grads() = 0;
  virtual size_t num_grads() const = 0;
  // The optimizer step on the averaged grads().
  [[nodiscard]] virtual Status Step(const PhaseSettings& phase) = 0;

  // Scores samples ids[0..n) of the job's dataset; p_ctcvr (may be null)
  // only for a two-task base.
  [[nodiscard]] virtual Status Score(const uint32_t* ids, int n, float* p_ctr,
                                     float* p_ctcvr) = 0;

  // The trained values (what validation keeps the best of), and the
  // optimizer state; both restored exactly by the setters.
  virtual std::vector<float> Params() const = 0;
  [[nodiscard]] virtual Status SetParams(const std::vector<float>& params) = 0;
  virtual std::string OptimizerState() const = 0;
  [[nodiscard]] virtual Status SetOptimizerState(std::string_view state) = 0;
  // State that Params() does not hold (full fine-tuning's rows): MarkBest()
  // remembers it when validation finds a new best, RestoreBest() returns
  // to it before the result is written.
  [[nodiscard]] virtual Status MarkBest() { return Status::Ok(); }
  [[nodiscard]] virtual Status RestoreBest() { return Status::Ok(); }

  // Writes the unit's result under output_dir (an adapter file, or the
  // domain's dense model) with the current parameters.
  [[nodiscard]] virtual Status Write(const std::string& output_dir,
                                     const std::string& name) const = 0;
  // Values trained (the comparison's cost): the parameters, plus full
  // fine-tuning's rows.
  virtual int64_t num_trained_values() const { return static_cast<int64_t>(Params().size()); }
  // Bytes of trained values plus optimizer state (the comparison's cost).
  virtual int64_t CheckpointBytes() const = 0;
};

}  // namespace iak::worker

#endif  // IAK_WORKER_DOMAIN_MODEL_H_
