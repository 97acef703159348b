// ParallelFineTuneStep: the IAK fine-tuning step of FineTuneStep with the
// batch split over the cores, and with the frozen bottom as a separate call
// so that a caller holding h (the frozen-prefix cache) can skip it.
//
//   ForwardBottom: h = frozen bottom(x), blocks of rows claimed by the
//                  threads in turn.
//   RunOnH:        zero iak grads -> per thread, for its rows: IAK forward
//                  (given noise) -> frozen towers -> loss -> towers' input
//                  gradient -> IAK backward into a per-thread gradient buffer;
//                  then the buffers are summed in thread order.
//
// The math is FineTuneStep::Run's (same loss and gradients; sums happen in
// another order, so results agree to rounding). Nothing is computed for the
// frozen weights' gradients. Every buffer is kept between steps, so a steady
// state step allocates nothing.
//
// Each thread runs its GEMMs itself: give BLAS one thread per call
// (SetBlasThreads(1)) when num_threads > 1, or the two levels oversubscribe
// the cores.
//
// Thread-safety: one caller at a time. The BaseModel and IakModule may not be
// modified during a call.
#ifndef IAK_MODEL_PARALLEL_STEP_H_
#define IAK_MODEL_PARALLEL_STEP_H_

#include <vector>

#include "common/fork_join.h"
#include "model/base_model.h"
#include "model/bf16_bottom.h"
#include "model/fine_tune_step.h"
#include "model/iak_module.h"

namespace iak::model {

class ParallelFineTuneStep {
 public:
  explicit ParallelFineTuneStep(int num_threads);

  int num_threads() const { return pool_.num_threads(); }

  // h[batch x h_dim] from x[batch x input_dim]. Row r of h depends on row r
  // of x only, bit for bit (not on the batch it came in, its position or the
  // thread count), which the frozen-prefix cache relies on: the rows go
  // through the GEMMs in blocks of exactly kBottomBlock rows (the last one
  // zero-padded), so every row meets the same BLAS code path. (OpenBLAS
  // switches kernels for small matrices, whose sums round differently.)
  // The threads claim the blocks in turn rather than a fixed half each: the
  // batch pipeline's thread shares the cores and runs as a step begins, so a
  // fixed split left one thread waiting at the join for the other (about
  // 13 % of the wall time on 2 cores). 128 rows: small enough to even out
  // (8 blocks a batch of 1,024), large enough to keep the GEMMs efficient.
  static constexpr int kBottomBlock = 128;
  void ForwardBottom(const BaseModel& base, const float* x, int batch, float* h);

  // Runs ForwardBottom in bf16 (model/bf16_bottom.h) when `bottom` is not
  // null; it must have been made from the base model ForwardBottom is given,
  // with at least num_threads() parts, and outlive this. Null = fp32.
  void set_bf16_bottom(Bf16Bottom* bottom) { bf16_bottom_ = bottom; }

  // One training step from h. eps is [batch x latent_dim] (IakModule::DrawEps;
  // may be null for a plain adapter); conversion as in FineTuneStep::Run.
  // Overwrites iak->grads() with the step's gradients.
  StepStats RunOnH(const BaseModel& base, IakModule* iak, IakPhase phase, float beta,
                   const float* h, int batch, const float* click, const float* conversion,
                   const float* eps);

  // ForwardBottom, then RunOnH.
  StepStats Run(const BaseModel& base, IakModule* iak, IakPhase phase, float beta,
                const float* x, int batch, const float* click, const float* conversion,
                const float* eps);

 private:
  struct Part {
    BaseModelWorkspace base_ws;
    IakWorkspace iak_ws;
    std::vector<float> h_adapted;
    std::vector<float> logits;
    std::vector<float> dlogits;
    std::vector<float> dh;
    std::vector<float> grads;
    std::vector<float> tower_act;   // fused towers: hidden activations
    std::vector<float> tower_grad;  // and their gradients
    std::vector<float> x_pad;  // ForwardBottom's short block
    std::vector<float> h_pad;
    double loss_sum = 0.0;
    double kl_sum = 0.0;
  };
  Bf16Bottom* bf16_bottom_ = nullptr;

  // Towers with one hidden layer each (W2's 128-64-1) run fused: all the
  // towers' hidden layers as one GEMM on h', the heads as dot products, and
  // the input gradient as one GEMM. The packed copy of their weights is
  // refreshed by every RunOnH (the base model may have changed in between).
  void PackTowers(const BaseModel& base);
  void FusedTowersForward(int n, int hd, int tasks, Part* part) const;
  void FusedTowersBackward(int n, int hd, int tasks, Part* part) const;

  ForkJoinPool pool_;
  int tower_width_ = 0;
  std::vector<float> tower_w_;  // [h_dim x tasks*width]
  std::vector<float> tower_b_;  // [tasks*width]
  std::vector<float> head_w_;   // [tasks*width]
  std::vector<float> head_b_;   // [tasks]
  std::vector<Part> parts_;
  std::vector<float> h_;  // Run's h
};

}  // namespace iak::model

#endif  // IAK_MODEL_PARALLEL_STEP_H_
