// IakModule: the Information-Aware Adaptive Kernel, a variational bottleneck
// adapter inserted on the base model's representation h.
//
//   encoder MLP: h -> (mu, logvar) in R^k x R^k
//   z = mu + exp(0.5 logvar) * eps, eps ~ N(0, I)   (training)
//   z = mu                                          (inference)
//   decoder MLP: z -> delta (dim of h);  h' = h + delta
//   (with IakConfig::columns, on those columns of h only)
//   KL = mean_batch 0.5 * sum_j (exp(logvar) + mu^2 - 1 - logvar)
//
// The decoder's last layer starts at exactly zero, so an untrained module is
// the identity and the tuned model starts equal to the pre-trained one.
// With `plain_adapter` the module is an ordinary bottleneck adapter: the
// encoder outputs z (k values) directly, no noise, no KL.
//
// All parameters live in one flat vector (encoder first, then decoder) with a
// gradient vector of the same layout; these are what workers all-reduce and
// the optimizer steps. Phases (see docs/MISSION.md):
//   kCompression: encoder and decoder gradients (task loss + beta * KL);
//   kMatching:    the encoder is frozen; its gradients are not computed and
//                 stay zero. KL depends on the encoder alone, so in this
//                 phase beta only affects dh_in.
//
// Thread-safety: Forward/Backward use scratch owned by the module: one thread
// at a time. Infer() is const and uses a caller-owned workspace, so a trained
// module can serve several threads.
#ifndef IAK_MODEL_IAK_MODULE_H_
#define IAK_MODEL_IAK_MODULE_H_

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/mersenne_twister.h"
#include "model/mlp.h"
#include "model/param_buffers.h"
#include "model/param_range.h"

namespace iak::model {

enum class IakPhase { kCompression, kMatching };

struct IakConfig {
  int input_dim = 32;  // dimension of h
  int latent_dim = 8;  // k
  std::vector<int> encoder_hidden{32};
  std::vector<int> decoder_hidden{32};
  bool plain_adapter = false;  // no Gaussian, no KL: z = encoder output
  // Where the encoder's logvar outputs start (their bias; the weights are
  // Xavier as for mu). At 0 the training noise starts at std 1, as large as
  // mu, and the decoder first sees mostly noise while validation's patience
  // runs out; at -6 (std 0.05) the adapter starts nearly deterministic and
  // beta's KL term decides how much noise it takes on. Validation AUC prefers
  // -4..-8 on the three data families of docs/results.md but test AUC fell
  // on all three, so the default stays 0 (JobSpec.iak.initial_logvar).
  // Unused when plain.
  float initial_logvar = 0.0f;
  // The input columns the module reads and adapts, strictly increasing, each
  // in [0, input_dim); empty = all of them. With columns the encoder reads
  // h[:, columns] and the decoder's delta is added to those columns only;
  // the others pass through unchanged (an adapter on x that re-reads some
  // fields' pooled embeddings: JobSpec.iak.fields).
  std::vector<int> columns;

  // How many inputs the encoder reads and the decoder writes.
  int adapted_width() const {
    return columns.empty() ? input_dim : static_cast<int>(columns.size());
  }
};

// InvalidArgument naming the bad field when `config` cannot build a module.
Status ValidateIakConfig(const IakConfig& config);

// Activations of one forward pass, read by the matching backward.
struct IakWorkspace {
  MlpWorkspace encoder;
  MlpWorkspace decoder;
  int batch = 0;
  std::vector<float> enc_out;  // [batch x (2k, or k when plain)]
  std::vector<float> eps;      // [batch x k], zero at inference
  std::vector<float> z;        // [batch x k]
  std::vector<float> delta;    // [batch x input_dim]
  std::vector<float> dz;       // backward scratch
  std::vector<float> d_enc;
  std::vector<float> dh_enc;
  // With IakConfig::columns: the read columns of h and of dh_out.
  std::vector<float> h_columns;
  std::vector<float> dout_columns;
};

class IakModule : public ParamBuffers {
 public:
  // CHECK-fails on an invalid config (validate user input first).
  // Parameters start at zero (the identity map); call Init().
  explicit IakModule(const IakConfig& config);

  IakModule(const IakModule& other);
  IakModule& operator=(const IakModule& other);
  IakModule(IakModule&& other) noexcept;
  IakModule& operator=(IakModule&& other) noexcept;

  // He/Xavier init from `seed`; the decoder's last layer is set to zero and
  // the logvar outputs' bias to config.initial_logvar.
  void Init(uint64_t seed);

  const IakConfig& config() const { return config_; }
  ParamRange encoder_param_range() const;
  ParamRange decoder_param_range() const;

  // h_out[batch x input_dim] = h + delta. `rng` draws eps when training (may
  // be null otherwise). h must not alias h_out and must stay alive and
  // unchanged until Backward. Returns the batch-mean KL (0 when plain).
  float Forward(const float* h, int batch, bool training, std::mt19937_64* rng,
                float* h_out);

  // Backward of the last Forward given dh_out = dL/dh_out. Accumulates
  // parameter gradients of (L + beta * KL) into grads() — encoder ones only
  // in kCompression — and writes dh_in (skipped when null).
  void Backward(const float* dh_out, float beta, IakPhase phase, float* dh_in);

  // Inference (z = mu) with a caller-owned workspace; safe to share.
  void Infer(const float* h, int batch, float* h_out, IakWorkspace* ws) const;

  // Training forward and backward with caller-owned state, so that one step
  // can be split over threads (each with its own workspace and gradient
  // buffer). Same math as Forward/Backward:
  //  - eps [batch x latent_dim] is the noise (ignored by a plain adapter);
  //    Forward(rng) draws it in the same order as DrawEps.
  //  - TrainForward returns the KL *summed* over the batch rows.
  //  - TrainBackward accumulates the gradients of (L + beta * KL_mean) into
  //    grads (layout of params()), with KL_mean taken over `loss_batch` rows
  //    (the whole step's batch, of which this call may be a slice), and
  //    writes dh_in (skipped when null).
  double TrainForward(const float* h, int batch, const float* eps, float* h_out,
                      IakWorkspace* ws) const;
  void TrainBackward(const float* dh_out, float beta, int loss_batch, IakPhase phase,
                     float* grads, float* dh_in, IakWorkspace* ws) const;

  // Draws the training noise of a batch: batch * latent_dim standard normals
  // from `rng`, row by row (the order Forward uses): exactly what one
  // std::normal_distribution<float>(0, 1) would draw (standard_normals.h).
  // The two engines give the same noise for the same seed.
  static void DrawEps(int batch, int latent_dim, std::mt19937_64* rng, float* eps);
  static void DrawEps(int batch, int latent_dim, Mt19937_64* rng, float* eps);

  std::string Serialize() const;
  // DataLoss on a truncated or corrupt blob. Never crashes on bad input.
  static StatusOr<IakModule> Deserialize(std::string_view blob);

 private:
  int encoder_out_dim() const;
  void BindLayers();
  // `in` [batch x input_dim] itself, or its config().columns gathered into
  // `scratch` [batch x columns].
  const float* ReadColumns(const float* in, int batch, std::vector<float>* scratch) const;
  // eps: the noise when training (null at inference). Returns the KL sum.
  double ForwardImpl(const float* h, int batch, const float* eps, float* h_out,
                     IakWorkspace* ws) const;

  IakConfig config_;
  Mlp encoder_;
  Mlp decoder_;
  IakWorkspace ws_;
};

}  // namespace iak::model

#endif  // IAK_MODEL_IAK_MODULE_H_
