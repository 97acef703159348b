#include "worker/method_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include <glog/logging.h>

#include "embedding/model_directory.h"
#include "model/adam.h"
#include "model/dense_train_step.h"
#include "model/fine_tune_step.h"
#include "model/loss.h"
#include "model/matrix_ops.h"
#include "model/metrics.h"
#include "model/parallel_step.h"
#include "model/row_gradients.h"
#include "worker/local_lookup.h"

namespace iak::worker {
namespace {

constexpr int kEvalBatch = 1024;
constexpr float kAdagradEps = 1e-8f;

int64_t Floats(size_t n) { return static_cast<int64_t>(n * sizeof(float)); }

// Pooled inputs (and their gradient) and labels of one batch.
struct Buffers {
  std::vector<float> x, dx, click, conversion;
  void Resize(const model::BaseModelConfig& c, int batch) {
    x.resize(static_cast<size_t>(batch) * c.input_dim());
    dx.resize(x.size());
    click.resize(batch);
    conversion.resize(batch);
  }
};

// One method's model for one domain.
class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual void TrainBatch(const uint32_t* ids, int batch, int epoch) = 0;
  // p_ctr[n] for samples ids[0..n); p_ctcvr[n] too when not null (only for
  // a two-task base model).
  virtual void Predict(const uint32_t* ids, int n, float* p_ctr, float* p_ctcvr) = 0;
  virtual int64_t TrainableParams() const = 0;
  virtual int64_t CheckpointBytes() const = 0;
  // Floats all-reduced per training step in `epoch` (0-based).
  virtual int64_t AllReducedFloats(int epoch) const { (void)epoch; return TrainableParams(); }
  // Full fine-tuning pushes a gradient row per pulled key.
  virtual bool PushesRows() const { return false; }
  // Whether a cluster worker pulls rows in `epoch` (not after the
  // frozen-prefix cache has h of every sample).
  virtual bool PullsInEpoch(int epoch) const { (void)epoch; return true; }
};

class TrainerBase : public Trainer {
 public:
  TrainerBase(const data::Dataset& data, const model::BaseModel& base,
              const model::RowLookup& rows)
      : data_(data), base_(base), rows_(rows) {}

 protected:
  void Labels(const uint32_t* ids, int batch) {
    buf_.Resize(base_.config(), batch);
    for (int r = 0; r < batch; ++r) {
      buf_.click[r] = data_.click[ids[r]];
      buf_.conversion[r] = data_.has_conversion() ? data_.conversion[ids[r]] : 0.0f;
    }
  }
  // Full forward/backward of `model` on x (already pooled; model/dense_train_step.h):
  // gradients of the parameters into model->mutable_grads(), dx when wanted.
  void DenseStep(model::BaseModel* model, int batch, bool want_dx) {
    dense_step_.Run(model, buf_.x.data(), batch, buf_.click.data(), buf_.conversion.data(),
                    want_dx ? buf_.dx.data() : nullptr);
  }
  void PredictWith(const model::BaseModel& model, const model::IakModule* iak,
                   const model::RowLookup& rows, const uint32_t* ids, int n, float* p,
                   float* p_ctcvr) {
    buf_.Resize(model.config(), n);
    model::PoolBatch(data_, ids, n, model.config().embedding_dim, rows, buf_.x.data());
    step_.Predict(model, iak, buf_.x.data(), n, p,
                  model.config().num_tasks == 2 ? p_ctcvr : nullptr);
  }

  const data::Dataset& data_;
  const model::BaseModel& base_;
  const model::RowLookup& rows_;
  Buffers buf_;
  model::DenseTrainStep dense_step_;
  model::FineTuneStep step_;
};

class FrozenTrainer : public TrainerBase {
 public:
  using TrainerBase::TrainerBase;
  void TrainBatch(const uint32_t*, int, int) override {}
  void Predict(const uint32_t* ids, int n, float* p, float* q) override {
    PredictWith(base_, nullptr, rows_, ids, n, p, q);
  }
  int64_t TrainableParams() const override { return 0; }
  int64_t CheckpointBytes() const override { return 0; }
};

class DenseTrainer : public TrainerBase {
 public:
  DenseTrainer(const data::Dataset& data, const model::BaseModel& base,
               const model::RowLookup& rows, float lr)
      : TrainerBase(data, base, rows), model_(base), adam_(base.num_params(), Lr(lr)) {}
  void TrainBatch(const uint32_t* ids, int batch, int) override {
    Labels(ids, batch);
    model::PoolBatch(data_, ids, batch, model_.config().embedding_dim, rows_, buf_.x.data());
    DenseStep(&model_, batch, false);
    adam_.Step(model_.mutable_params(), model_.grads().data());
  }
  void Predict(const uint32_t* ids, int n, float* p, float* q) override {
    PredictWith(model_, nullptr, rows_, ids, n, p, q);
  }
  int64_t TrainableParams() const override { return model_.num_params(); }
  int64_t CheckpointBytes() const override {
    return static_cast<int64_t>(model_.Serialize().size() + adam_.Serialize().size());
  }

 private:
  static model::AdamOptions Lr(float lr) {
    model::AdamOptions o;
    o.lr = lr;
    return o;
  }
  model::BaseModel model_;
  model::Adam adam_;
};

// The rows full fine-tuning has touched, over the frozen snapshot, with
// their Adagrad accumulators.
class OverlayRows : public model::RowLookup {
 public:
  OverlayRows(const model::RowLookup* frozen, int dim) : frozen_(frozen), dim_(dim) {}

  void Ensure(uint64_t key) {
    auto [it, inserted] = slots_.try_emplace(key, slots_.size());
    if (!inserted) return;
    const float* row = frozen_->Find(key);
    for (int j = 0; j < dim_; ++j) rows_.push_back(row != nullptr ? row[j] : 0.0f);
    accum_.resize(rows_.size(), 0.0f);
  }
  const float* Find(uint64_t key) const override {
    auto it = slots_.find(key);
    return it == slots_.end() ? frozen_->Find(key) : rows_.data() + it->second * dim_;
  }
  // One Adagrad step on every row of `grads` (each key Ensure()d before).
  void ApplyAdagrad(const model::RowGradients& grads, float lr) {
    const std::vector<uint64_t>& keys = grads.keys();
    for (size_t i = 0; i < keys.size(); ++i) {
      const size_t slot = slots_.at(keys[i]);
      float* row = rows_.data() + slot * dim_;
      float* acc = accum_.data() + slot * dim_;
      const float* g = grads.grads().data() + i * dim_;
      for (int j = 0; j < dim_; ++j) {
        acc[j] += g[j] * g[j];
        row[j] -= lr * g[j] / (std::sqrt(acc[j]) + kAdagradEps);
      }
    }
  }
  size_t size() const { return slots_.size(); }

 private:
  const model::RowLookup* frozen_;
  int dim_;
  std::unordered_map<uint64_t, size_t> slots_;
  std::vector<float> rows_, accum_;
};

class FullTrainer : public TrainerBase {
 public:
  FullTrainer(const data::Dataset& data, const model::BaseModel& base,
              const model::RowLookup& rows, float dense_lr, float embedding_lr)
      : TrainerBase(data, base, rows),
        model_(base),
        adam_(base.num_params(), Lr(dense_lr)),
        overlay_(&rows, base.config().embedding_dim),
        embedding_lr_(embedding_lr),
        row_grads_(base.config().embedding_dim) {}
  void TrainBatch(const uint32_t* ids, int batch, int) override {
    Labels(ids, batch);
    for (int r = 0; r < batch; ++r) {
      for (int f = 0; f < data_.num_fields(); ++f) {
        size_t count = 0;
        const uint64_t* keys = data_.FieldKeys(ids[r], f, &count);
        for (size_t i = 0; i < count; ++i) overlay_.Ensure(keys[i]);
      }
    }
    const int dim = model_.config().embedding_dim;
    model::PoolBatch(data_, ids, batch, dim, overlay_, buf_.x.data());
    DenseStep(&model_, batch, true);
    adam_.Step(model_.mutable_params(), model_.grads().data());
    row_grads_.Collect(data_, ids, batch, buf_.dx.data());
    overlay_.ApplyAdagrad(row_grads_, embedding_lr_);
  }
  void Predict(const uint32_t* ids, int n, float* p, float* q) override {
    PredictWith(model_, nullptr, overlay_, ids, n, p, q);
  }
  int64_t AllReducedFloats(int) const override {
    return static_cast<int64_t>(model_.num_params());
  }
  bool PushesRows() const override { return true; }
  int64_t TrainableParams() const override {
    return static_cast<int64_t>(model_.num_params() +
                                overlay_.size() * model_.config().embedding_dim);
  }
  int64_t CheckpointBytes() const override {
    // Touched rows: key + row + Adagrad accumulator.
    const int64_t rows = static_cast<int64_t>(overlay_.size()) *
                         (8 + 2 * Floats(model_.config().embedding_dim));
    return rows + static_cast<int64_t>(model_.Serialize().size() + adam_.Serialize().size());
  }

 private:
  static model::AdamOptions Lr(float lr) {
    model::AdamOptions o;
    o.lr = lr;
    return o;
  }
  model::BaseModel model_;
  model::Adam adam_;
  OverlayRows overlay_;
  float embedding_lr_;
  model::RowGradients row_grads_;
};

class LoraTrainer : public TrainerBase {
 public:
  LoraTrainer(const data::Dataset& data, const model::BaseModel& base,
              const model::RowLookup& rows, const model::LoraConfig& config, float lr,
              uint64_t seed)
      : TrainerBase(data, base, rows), lora_(base.config(), config), merged_(base) {
    lora_.Init(seed);
    model::AdamOptions o;
    o.lr = lr;
    adam_ = std::make_unique<model::Adam>(lora_.num_params(), o);
  }
  void TrainBatch(const uint32_t* ids, int batch, int) override {
    Labels(ids, batch);
    model::PoolBatch(data_, ids, batch, base_.config().embedding_dim, rows_, buf_.x.data());
    lora_.Merge(base_.params().data(), merged_.mutable_params());
    DenseStep(&merged_, batch, false);
    lora_.ZeroGrads();
    lora_.Backward(merged_.grads().data());
    adam_->Step(lora_.mutable_params(), lora_.grads().data());
  }
  void Predict(const uint32_t* ids, int n, float* p, float* q) override {
    lora_.Merge(base_.params().data(), merged_.mutable_params());
    PredictWith(merged_, nullptr, rows_, ids, n, p, q);
  }
  int64_t TrainableParams() const override { return static_cast<int64_t>(lora_.num_params()); }
  int64_t CheckpointBytes() const override {
    return Floats(lora_.num_params()) + static_cast<int64_t>(adam_->Serialize().size());
  }

 private:
  model::LoraAdapter lora_;
  model::BaseModel merged_;
  std::unique_ptr<model::Adam> adam_;
};

class AdapterTrainer : public TrainerBase {
 public:
  AdapterTrainer(const data::Dataset& data, const model::BaseModel& base,
                 const model::RowLookup& rows, const model::IakConfig& config,
                 const MethodRunnerOptions& options, int compression_epochs, float lr,
                 AdapterInsertion insertion = AdapterInsertion::kH)
      : TrainerBase(data, base, rows),
        iak_(config),
        insertion_(insertion),
        options_(options),
        compression_epochs_(compression_epochs),
        lr_(lr),
        rng_(options.seed + 17) {
    iak_.Init(options.seed);
    model::AdamOptions o;
    o.lr = lr;
    adam_ = std::make_unique<model::Adam>(iak_.num_params(), o);
  }
  void TrainBatch(const uint32_t* ids, int batch, int epoch) override {
    Labels(ids, batch);
    const bool plain = iak_.config().plain_adapter;
    const bool matching = !plain && epoch >= compression_epochs_;
    const float beta = plain ? 0.0f
                       : matching ? options_.beta_matching
                                  : options_.beta_compression;
    const model::IakPhase phase =
        matching ? model::IakPhase::kMatching : model::IakPhase::kCompression;
    const float* conversion = data_.has_conversion() ? buf_.conversion.data() : nullptr;
    adam_->set_lr(matching ? lr_ / 2 : lr_);
    if (insertion_ == AdapterInsertion::kX) {
      // The bottom sees the adapted x, so only the pooling can be cached.
      const float* x = buf_.x.data();
      if (options_.prefix_cache) {
        CachedRows(ids, batch, /*through_bottom=*/false);
        x = h_batch_.data();
      } else {
        model::PoolBatch(data_, ids, batch, base_.config().embedding_dim, rows_, buf_.x.data());
      }
      eps_.resize(static_cast<size_t>(batch) * iak_.config().latent_dim);
      if (!plain) {
        model::IakModule::DrawEps(batch, iak_.config().latent_dim, &rng_, eps_.data());
      }
      x_step_.Run(base_, iak_, phase, beta, x, batch, buf_.click.data(), conversion, eps_.data(),
                  iak_.mutable_grads());
    } else if (insertion_ == AdapterInsertion::kTower) {
      if (options_.prefix_cache) {
        CachedRows(ids, batch, /*through_bottom=*/true);
      } else {
        model::PoolBatch(data_, ids, batch, base_.config().embedding_dim, rows_, buf_.x.data());
        h_batch_.resize(static_cast<size_t>(batch) * base_.config().h_dim());
        par_.ForwardBottom(base_, buf_.x.data(), batch, h_batch_.data());
      }
      const float* h = h_batch_.data();
      eps_.resize(static_cast<size_t>(batch) * iak_.config().latent_dim);
      if (!plain) {
        model::IakModule::DrawEps(batch, iak_.config().latent_dim, &rng_, eps_.data());
      }
      tower_step_.Run(base_, iak_, phase, beta, h, batch, buf_.click.data(), conversion,
                      eps_.data(), iak_.mutable_grads());
    } else if (options_.prefix_cache) {
      CachedRows(ids, batch, /*through_bottom=*/true);
      const float* eps = nullptr;
      if (!plain) {
        eps_.resize(static_cast<size_t>(batch) * iak_.config().latent_dim);
        model::IakModule::DrawEps(batch, iak_.config().latent_dim, &rng_, eps_.data());
        eps = eps_.data();
      }
      par_.RunOnH(base_, &iak_, phase, beta, h_batch_.data(), batch, buf_.click.data(),
                  conversion, eps);
    } else {
      model::PoolBatch(data_, ids, batch, base_.config().embedding_dim, rows_, buf_.x.data());
      step_.Run(base_, &iak_, phase, beta, buf_.x.data(), batch, buf_.click.data(), conversion,
                &rng_);
    }
    if (matching) {
      adam_->Step(iak_.mutable_params(), iak_.grads().data(), {iak_.decoder_param_range()});
    } else {
      adam_->Step(iak_.mutable_params(), iak_.grads().data());
    }
  }
  void Predict(const uint32_t* ids, int n, float* p, float* q) override {
    if (insertion_ == AdapterInsertion::kX) {
      buf_.Resize(base_.config(), n);
      model::PoolBatch(data_, ids, n, base_.config().embedding_dim, rows_, buf_.x.data());
      x_step_.Predict(base_, iak_, buf_.x.data(), n, p,
                      base_.config().num_tasks == 2 ? q : nullptr);
      return;
    }
    if (insertion_ == AdapterInsertion::kTower) {
      buf_.Resize(base_.config(), n);
      model::PoolBatch(data_, ids, n, base_.config().embedding_dim, rows_, buf_.x.data());
      h_eval_.resize(static_cast<size_t>(n) * base_.config().h_dim());
      par_.ForwardBottom(base_, buf_.x.data(), n, h_eval_.data());
      tower_step_.Predict(base_, iak_, h_eval_.data(), n, p,
                          base_.config().num_tasks == 2 ? q : nullptr);
      return;
    }
    PredictWith(base_, &iak_, rows_, ids, n, p, q);
  }
  bool PullsInEpoch(int epoch) const override { return !options_.prefix_cache || epoch == 0; }
  int64_t AllReducedFloats(int epoch) const override {
    const bool matching = !iak_.config().plain_adapter && epoch >= compression_epochs_;
    return static_cast<int64_t>(matching ? iak_.decoder_param_range().size()
                                         : iak_.num_params());
  }
  int64_t TrainableParams() const override { return static_cast<int64_t>(iak_.num_params()); }
  int64_t CheckpointBytes() const override {
    return static_cast<int64_t>(iak_.Serialize().size() + adam_->Serialize().size());
  }

 private:
  // Rows of ids[0..batch) into h_batch_: h of the frozen bottom when
  // through_bottom (insertion on h), else the pooled x (insertion on x);
  // computed the first time a sample is seen, then read back (exact: the
  // embeddings and the bottom are frozen; worker/frozen_prefix_cache.h).
  // One trainer always calls it with the same through_bottom.
  void CachedRows(const uint32_t* ids, int batch, bool through_bottom) {
    const int width = through_bottom ? base_.config().h_dim() : base_.config().input_dim();
    if (slot_.empty()) slot_.assign(data_.size(), -1);
    miss_.clear();
    for (int r = 0; r < batch; ++r) {
      if (slot_[ids[r]] < 0) miss_.push_back(ids[r]);
    }
    if (!miss_.empty()) {
      const int n = static_cast<int>(miss_.size());
      buf_.Resize(base_.config(), n);
      model::PoolBatch(data_, miss_.data(), n, base_.config().embedding_dim, rows_,
                       buf_.x.data());
      h_miss_.resize(static_cast<size_t>(n) * width);
      if (through_bottom) {
        par_.ForwardBottom(base_, buf_.x.data(), n, h_miss_.data());
      } else {
        std::copy_n(buf_.x.begin(), h_miss_.size(), h_miss_.begin());
      }
      for (int i = 0; i < n; ++i) {
        slot_[miss_[i]] = static_cast<int64_t>(h_rows_.size() / width);
        h_rows_.insert(h_rows_.end(), h_miss_.begin() + static_cast<size_t>(i) * width,
                       h_miss_.begin() + static_cast<size_t>(i + 1) * width);
      }
    }
    h_batch_.resize(static_cast<size_t>(batch) * width);
    for (int r = 0; r < batch; ++r) {
      std::copy_n(h_rows_.begin() + slot_[ids[r]] * width, width,
                  h_batch_.begin() + static_cast<size_t>(r) * width);
    }
  }

  model::IakModule iak_;
  AdapterInsertion insertion_;
  const MethodRunnerOptions& options_;
  model::ParallelFineTuneStep par_{1};
  InputAdapterStep x_step_;
  TowerAdapterStep tower_step_;
  std::vector<float> h_eval_;
  std::vector<int64_t> slot_;
  std::vector<uint32_t> miss_;
  std::vector<float> h_rows_, h_miss_, h_batch_, eps_;
  int compression_epochs_;
  float lr_;
  std::mt19937_64 rng_;
  std::unique_ptr<model::Adam> adam_;
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct EvalResult {
  double ctr = kNaN;    // NaN: one class only
  double ctcvr = kNaN;  // NaN: not asked, or one class only
};

// AUCs of `trainer` on `ids`.
EvalResult Evaluate(Trainer* trainer, const data::Dataset& data, const data::SampleIds& ids,
                    bool ctcvr) {
  std::vector<float> p(ids.size()), q(ctcvr ? ids.size() : 0), click(ids.size()),
      conversion(ids.size());
  for (size_t begin = 0; begin < ids.size(); begin += kEvalBatch) {
    const int n = static_cast<int>(std::min<size_t>(kEvalBatch, ids.size() - begin));
    trainer->Predict(ids.data() + begin, n, p.data() + begin, ctcvr ? q.data() + begin : nullptr);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    click[i] = data.click[ids[i]];
    conversion[i] = data.has_conversion() ? data.conversion[ids[i]] : 0.0f;
  }
  EvalResult r;
  StatusOr<double> ctr = model::RocAuc(p, click);
  if (ctr.ok()) r.ctr = *ctr;
  if (ctcvr) {
    StatusOr<double> a = CtcvrAuc(q, click, conversion);
    if (a.ok()) r.ctcvr = *a;
  }
  return r;
}

// One trainer's epochs on `train` (batches of `batch`, shuffled with
// `shuffle_seed`), the epoch chosen by validation CTR-AUC (the last one when
// validation has one class only), and the AUCs of every `tests` set there.
struct TrainOutcome {
  double validation_auc = kNaN;
  int best_epoch = 0;
  std::vector<EvalResult> tests;
  double seconds_per_epoch = 0;
  int64_t pull_bytes = 0, push_bytes = 0, allreduce_bytes = 0;  // per epoch
};

TrainOutcome TrainAndSelect(Trainer* trainer, const data::Dataset& data,
                            const data::SampleIds& train, const data::SampleIds& validation,
                            const std::vector<const data::SampleIds*>& tests, int epochs,
                            int batch, uint64_t shuffle_seed, const MethodRunnerOptions& o,
                            bool ctcvr, int embedding_dim) {
  TrainOutcome out;
  out.tests.resize(tests.size());
  std::mt19937_64 shuffle(shuffle_seed);
  data::SampleIds order = train;
  double train_seconds = 0;
  double best = -1;
  const int workers = o.network_workers;
  int64_t pulled_rows = 0, allreduced_floats = 0;
  std::unordered_set<uint64_t> unique;
  for (int epoch = 0; epoch <= epochs; ++epoch) {
    if (epoch > 0) {
      std::shuffle(order.begin(), order.end(), shuffle);
      size_t limit = order.size();
      if (o.max_steps_per_epoch > 0) {
        limit = std::min(limit, static_cast<size_t>(o.max_steps_per_epoch) * batch);
      }
      const auto start = std::chrono::steady_clock::now();
      for (size_t begin = 0; begin < limit; begin += batch) {
        const int n = static_cast<int>(std::min<size_t>(batch, limit - begin));
        trainer->TrainBatch(order.data() + begin, n, epoch - 1);
      }
      train_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      // What a cluster would move (untimed): worker w of N takes samples
      // begin + w, begin + w + N, ... of each batch and pulls its unique keys.
      for (size_t begin = 0; begin < limit; begin += batch) {
        const size_t end = std::min(limit, begin + batch);
        for (int w = 0; w < workers; ++w) {
          unique.clear();
          for (size_t s = begin + w; s < end; s += workers) {
            for (int f = 0; f < data.num_fields(); ++f) {
              size_t count = 0;
              const uint64_t* keys = data.FieldKeys(order[s], f, &count);
              unique.insert(keys, keys + count);
            }
          }
          if (trainer->PullsInEpoch(epoch - 1)) pulled_rows += static_cast<int64_t>(unique.size());
        }
        allreduced_floats += trainer->AllReducedFloats(epoch - 1);
      }
    }
    // Epoch 0 (untrained) only counts for methods that do not train.
    if (epoch == 0 && epochs > 0) continue;
    const EvalResult val = Evaluate(trainer, data, validation, false);
    const bool better = std::isnan(val.ctr) ? epoch == epochs : val.ctr > best;
    if (!better) continue;
    if (!std::isnan(val.ctr)) best = val.ctr;
    out.validation_auc = val.ctr;
    out.best_epoch = epoch;
    for (size_t t = 0; t < tests.size(); ++t) {
      out.tests[t] = Evaluate(trainer, data, *tests[t], ctcvr);
    }
  }
  if (epochs > 0) {
    out.seconds_per_epoch = train_seconds / epochs;
    const int64_t row_bytes = 8 + 4 * static_cast<int64_t>(embedding_dim);
    out.pull_bytes = pulled_rows * row_bytes / epochs;
    out.push_bytes = trainer->PushesRows() ? out.pull_bytes : 0;
    // Ring all-reduce: each of N workers sends 2(N-1)/N x floats x 4 bytes.
    out.allreduce_bytes = 2 * (workers - 1) * allreduced_floats * 4 / epochs;
  }
  return out;
}

std::unique_ptr<Trainer> MakeTrainer(Method method, const JobData& job,
                                     const model::BaseModel& base, const model::RowLookup& rows,
                                     const MethodRunnerOptions& o, double lr_scale) {
  model::IakConfig iak;
  iak.input_dim = base.config().h_dim();
  iak.latent_dim = o.latent_dim;
  iak.encoder_hidden = o.adapter_hidden;
  iak.decoder_hidden = o.adapter_hidden;
  const int compression_epochs =
      static_cast<int>(std::ceil(o.epochs * o.compression_fraction - 1e-9));
  const float adapter_lr = static_cast<float>(o.adapter_lr * lr_scale);
  switch (method) {
    case Method::kFrozen:
      return std::make_unique<FrozenTrainer>(job.dataset, base, rows);
    case Method::kFull:
      return std::make_unique<FullTrainer>(job.dataset, base, rows, o.dense_lr, o.embedding_lr);
    case Method::kDense:
      return std::make_unique<DenseTrainer>(job.dataset, base, rows, o.dense_lr);
    case Method::kLora:
      return std::make_unique<LoraTrainer>(job.dataset, base, rows, o.lora, o.dense_lr, o.seed);
    case Method::kPlain:
      iak.plain_adapter = true;
      return std::make_unique<AdapterTrainer>(job.dataset, base, rows, iak, o, o.epochs,
                                              adapter_lr);
    case Method::kIak:
      if (o.iak_insertion == AdapterInsertion::kX) iak.input_dim = base.config().input_dim();
      if (o.iak_insertion == AdapterInsertion::kTower) {
        iak.input_dim = base.config().tower_hidden.front();
      }
      return std::make_unique<AdapterTrainer>(job.dataset, base, rows, iak, o,
                                              compression_epochs, adapter_lr, o.iak_insertion);
  }
  return nullptr;
}

}  // namespace

const char* MethodName(Method method) {
  switch (method) {
    case Method::kFrozen: return "frozen";
    case Method::kFull: return "full";
    case Method::kDense: return "dense";
    case Method::kLora: return "lora";
    case Method::kPlain: return "plain";
    case Method::kIak: return "iak";
  }
  return "?";
}

const char* AdapterInsertionName(AdapterInsertion insertion) {
  switch (insertion) {
    case AdapterInsertion::kH: return "h";
    case AdapterInsertion::kX: return "x";
    case AdapterInsertion::kTower: return "tower";
  }
  return "?";
}

StatusOr<AdapterInsertion> ParseAdapterInsertion(const std::string& name) {
  if (name == "h") return AdapterInsertion::kH;
  if (name == "x") return AdapterInsertion::kX;
  if (name == "tower") return AdapterInsertion::kTower;
  return InvalidArgumentError("unknown adapter insertion '" + name + "'; choose h, x or tower");
}

void TowerAdapterStep::Bind(const model::BaseModel& base) {
  const model::BaseModelConfig& c = base.config();
  CHECK(Supports(c)) << "the base model's towers have no hidden layer to adapt";
  if (first_.empty()) {
    std::vector<int> rest{c.tower_hidden.begin(), c.tower_hidden.end()};
    rest.push_back(1);
    first_.emplace_back(std::vector<int>{c.h_dim(), c.tower_hidden.front()},
                        model::Activation::kRelu);
    rest_.emplace_back(rest, model::Activation::kNone);
    std::vector<int> full{c.h_dim()};
    full.insert(full.end(), c.tower_hidden.begin(), c.tower_hidden.end());
    full.push_back(1);
    for (int t = 1; t < c.num_tasks; ++t) others_.emplace_back(full, model::Activation::kNone);
    others_ws_.resize(others_.size());
  }
  // Tower t's layers are stored in order inside tower_param_range(t).
  const float* tower0 = base.params().data() + base.tower_param_range(0).begin;
  first_[0].Bind(tower0);
  rest_[0].Bind(tower0 + first_[0].num_params());
  CHECK_EQ(first_[0].num_params() + rest_[0].num_params(), base.tower_param_range(0).size());
  for (size_t t = 0; t < others_.size(); ++t) {
    others_[t].Bind(base.params().data() + base.tower_param_range(static_cast<int>(t) + 1).begin);
  }
}

double TowerAdapterStep::Forward(const model::BaseModel& base, const model::IakModule& adapter,
                                 const float* h, int batch, const float* eps) {
  Bind(base);
  const model::BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.tower_hidden.front())
      << "the adapter must sit on the tower's hidden layer";
  const int tasks = c.num_tasks;
  const size_t na = static_cast<size_t>(batch) * c.tower_hidden.front();
  a_.resize(na);
  a_adapted_.resize(na);
  column_.resize(batch);
  logits_.resize(static_cast<size_t>(batch) * tasks);
  first_[0].Forward(h, batch, a_.data(), &first_ws_);
  double kl_sum = 0;
  if (eps != nullptr) {
    kl_sum = adapter.TrainForward(a_.data(), batch, eps, a_adapted_.data(), &iak_ws_);
  } else {
    adapter.Infer(a_.data(), batch, a_adapted_.data(), &iak_ws_);
  }
  rest_[0].Forward(a_adapted_.data(), batch, column_.data(), &rest_ws_);
  for (int r = 0; r < batch; ++r) logits_[static_cast<size_t>(r) * tasks] = column_[r];
  for (size_t t = 0; t < others_.size(); ++t) {
    others_[t].Forward(h, batch, column_.data(), &others_ws_[t]);
    for (int r = 0; r < batch; ++r) logits_[static_cast<size_t>(r) * tasks + t + 1] = column_[r];
  }
  return kl_sum;
}

model::StepStats TowerAdapterStep::Run(const model::BaseModel& base,
                                       const model::IakModule& adapter, model::IakPhase phase,
                                       float beta, const float* h, int batch, const float* click,
                                       const float* conversion, const float* eps, float* grads) {
  const int tasks = base.config().num_tasks;
  std::vector<float> no_eps;
  if (eps == nullptr) {  // a plain adapter: any non-null noise (ignored) marks training
    no_eps.assign(static_cast<size_t>(batch) * adapter.config().latent_dim, 0.0f);
    eps = no_eps.data();
  }
  const double kl_sum = Forward(base, adapter, h, batch, eps);
  model::StepStats stats;
  dlogits_.resize(logits_.size());
  stats.task_loss = model::TaskLoss(logits_.data(), batch, tasks, click,
                                    tasks == 2 ? conversion : nullptr, dlogits_.data());
  stats.kl = batch > 0 ? static_cast<float>(kl_sum / batch) : 0.0f;
  stats.loss = stats.task_loss + beta * stats.kl;
  for (int r = 0; r < batch; ++r) column_[r] = dlogits_[static_cast<size_t>(r) * tasks];
  da_.resize(a_.size());
  rest_[0].Backward(column_.data(), batch, da_.data(), /*param_grads=*/nullptr, &rest_ws_);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(da_.data(), beta, batch, phase, grads, /*dh_in=*/nullptr, &iak_ws_);
  return stats;
}

void TowerAdapterStep::Predict(const model::BaseModel& base, const model::IakModule& adapter,
                               const float* h, int batch, float* p_ctr, float* p_ctcvr) {
  const int tasks = base.config().num_tasks;
  CHECK(p_ctcvr == nullptr || tasks == 2) << "pCTCVR needs a two-task (ESMM) base model";
  Forward(base, adapter, h, batch, /*eps=*/nullptr);
  for (int r = 0; r < batch; ++r) {
    const float p = model::Sigmoid(logits_[static_cast<size_t>(r) * tasks]);
    p_ctr[r] = p;
    if (p_ctcvr != nullptr) {
      p_ctcvr[r] = p * model::Sigmoid(logits_[static_cast<size_t>(r) * tasks + 1]);
    }
  }
}

model::StepStats InputAdapterStep::Run(const model::BaseModel& base,
                                       const model::IakModule& adapter, model::IakPhase phase,
                                       float beta, const float* x, int batch, const float* click,
                                       const float* conversion, const float* eps, float* grads) {
  const model::BaseModelConfig& c = base.config();
  CHECK_EQ(adapter.config().input_dim, c.input_dim()) << "the adapter must sit on x";
  const size_t nx = static_cast<size_t>(batch) * c.input_dim();
  const size_t nh = static_cast<size_t>(batch) * c.h_dim();
  const size_t nl = static_cast<size_t>(batch) * c.num_tasks;
  x_adapted_.resize(nx);
  dx_.resize(nx);
  h_.resize(nh);
  dh_.resize(nh);
  logits_.resize(nl);
  dlogits_.resize(nl);
  model::StepStats stats;
  const double kl_sum = adapter.TrainForward(x, batch, eps, x_adapted_.data(), &iak_ws_);
  base.ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
  base.ForwardTowers(h_.data(), batch, logits_.data(), &base_ws_);
  stats.task_loss = model::TaskLoss(logits_.data(), batch, c.num_tasks, click,
                                    c.num_tasks == 2 ? conversion : nullptr, dlogits_.data());
  stats.kl = batch > 0 ? static_cast<float>(kl_sum / batch) : 0.0f;
  stats.loss = stats.task_loss + beta * stats.kl;
  base.BackwardTowers(dlogits_.data(), batch, dh_.data(), /*param_grads=*/nullptr, &base_ws_);
  base.BackwardBottom(dh_.data(), batch, dx_.data(), /*param_grads=*/nullptr, &base_ws_);
  std::fill_n(grads, adapter.num_params(), 0.0f);
  adapter.TrainBackward(dx_.data(), beta, batch, phase, grads, /*dh_in=*/nullptr, &iak_ws_);
  return stats;
}

void InputAdapterStep::Predict(const model::BaseModel& base, const model::IakModule& adapter,
                               const float* x, int batch, float* p_ctr, float* p_ctcvr) {
  const model::BaseModelConfig& c = base.config();
  const int tasks = c.num_tasks;
  CHECK(p_ctcvr == nullptr || tasks == 2) << "pCTCVR needs a two-task (ESMM) base model";
  x_adapted_.resize(static_cast<size_t>(batch) * c.input_dim());
  h_.resize(static_cast<size_t>(batch) * c.h_dim());
  logits_.resize(static_cast<size_t>(batch) * tasks);
  adapter.Infer(x, batch, x_adapted_.data(), &iak_ws_);
  base.ForwardBottom(x_adapted_.data(), batch, h_.data(), &base_ws_);
  base.ForwardTowers(h_.data(), batch, logits_.data(), &base_ws_);
  for (int r = 0; r < batch; ++r) {
    const float p = model::Sigmoid(logits_[static_cast<size_t>(r) * tasks]);
    p_ctr[r] = p;
    if (p_ctcvr != nullptr) {
      p_ctcvr[r] = p * model::Sigmoid(logits_[static_cast<size_t>(r) * tasks + 1]);
    }
  }
}

std::vector<Method> AllMethods() {
  return {Method::kFrozen, Method::kFull, Method::kDense, Method::kLora, Method::kPlain,
          Method::kIak};
}

StatusOr<Method> ParseMethod(const std::string& name) {
  for (Method m : AllMethods()) {
    if (name == MethodName(m)) return m;
  }
  return InvalidArgumentError("unknown method '" + name +
                              "'; choose from frozen, full, dense, lora, plain, iak");
}

StatusOr<double> CtcvrAuc(const std::vector<float>& p_ctcvr, const std::vector<float>& click,
                          const std::vector<float>& conversion) {
  if (p_ctcvr.size() != click.size() || click.size() != conversion.size()) {
    return InvalidArgumentError("CTCVR-AUC: scores, clicks and conversions differ in length");
  }
  std::vector<float> label(click.size());
  for (size_t i = 0; i < click.size(); ++i) {
    label[i] = click[i] > 0.5f && conversion[i] > 0.5f ? 1.0f : 0.0f;
  }
  return model::RocAuc(p_ctcvr, label);
}

StatusOr<MethodReport> RunMethods(const JobData& job, const model::BaseModel& base,
                                  const model::RowLookup& rows, const MethodRunnerOptions& o) {
  if (o.epochs < 0) return InvalidArgumentError("compare: epochs must be >= 0");
  if (o.batch_size <= 0) return InvalidArgumentError("compare: batch_size must be > 0");
  if (o.methods.empty()) return InvalidArgumentError("compare: no methods chosen");
  if (o.network_workers < 1) return InvalidArgumentError("compare: network_workers must be >= 1");
  if (job.dataset.num_fields() != base.config().num_fields) {
    return FailedPreconditionError(
        "compare: the data has " + std::to_string(job.dataset.num_fields()) +
        " fields but the model directory's base model expects " +
        std::to_string(base.config().num_fields) + "; pre-train on this data first");
  }
  IAK_RETURN_IF_ERROR(model::ValidateLoraConfig(o.lora).WithContext("compare"));
  if (o.iak_insertion == AdapterInsertion::kTower &&
      std::find(o.methods.begin(), o.methods.end(), Method::kIak) != o.methods.end() &&
      !TowerAdapterStep::Supports(base.config())) {
    return FailedPreconditionError(
        "compare: IAK on the tower needs a base model whose towers have a hidden layer "
        "(tower_hidden is empty); choose --compare_iak_insertion=h or x");
  }
  const bool ctcvr = job.dataset.has_conversion() && base.config().num_tasks == 2;
  const int dim = base.config().embedding_dim;
  const std::vector<int>& domains = job.finetune_domains;
  MethodReport report;
  report.has_ctcvr = ctcvr;
  report.network_workers = o.network_workers;

  // The adapters' plan (the same for the plain adapter and IAK).
  DomainPlanOptions po = o.plan;
  po.base_batch = o.batch_size;
  po.min_batch = std::min(po.min_batch, o.batch_size);
  po.dynamic = o.dynamic_batches;
  if (!o.cold_domain_fallback) {
    po.min_train_samples = 0;
    po.min_validation_positives = 0;
  }
  std::vector<DomainCounts> counts;
  for (int domain : domains) {
    const data::DomainSplit& split = job.splits[domain];
    DomainCounts c;
    c.name = job.dataset.domain_names[domain];
    c.train_samples = static_cast<int64_t>(split.train.size());
    for (uint32_t id : split.validation) c.validation_positives += job.dataset.click[id] > 0.5f;
    counts.push_back(c);
  }
  DomainPlan plan;
  if (!domains.empty()) {
    StatusOr<DomainPlan> planned = PlanDomains(counts, po);
    if (!planned.ok()) return planned.status().WithContext("compare");
    plan = std::move(*planned);
  }

  for (Method method : o.methods) {
    const bool adapter = method == Method::kPlain || method == Method::kIak;
    const int epochs = method == Method::kFrozen ? 0 : o.epochs;
    const double main_lr = adapter ? o.adapter_lr : method == Method::kFrozen ? 0 : o.dense_lr;
    std::vector<MethodDomainResult> out(domains.size());
    std::vector<size_t> shared;
    for (size_t i = 0; i < domains.size(); ++i) {
      const data::DomainSplit& split = job.splits[domains[i]];
      MethodDomainResult& r = out[i];
      r.method = MethodName(method);
      r.domain = job.dataset.domain_names[domains[i]];
      r.train_samples = static_cast<int64_t>(split.train.size());
      r.validation_samples = static_cast<int64_t>(split.validation.size());
      r.test_samples = static_cast<int64_t>(split.test.size());
      if (adapter) {
        const DomainPlanEntry& e = plan.domains[i];
        r.mode = DomainModeName(e.mode);
        r.plan_note = e.reason;
        if (e.mode == DomainMode::kSharedAdapter) shared.push_back(i);
      }
    }
    auto fill = [&](MethodDomainResult* r, const TrainOutcome& t, const EvalResult& test,
                    int batch, double lr) {
      r->validation_auc = t.validation_auc;
      r->best_epoch = t.best_epoch;
      r->test_auc = test.ctr;
      r->test_ctcvr_auc = test.ctcvr;
      r->seconds_per_epoch = t.seconds_per_epoch;
      r->pull_bytes = t.pull_bytes;
      r->push_bytes = t.push_bytes;
      r->allreduce_bytes = t.allreduce_bytes;
      r->batch_size = epochs > 0 ? batch : 0;
      r->lr = epochs > 0 ? lr : 0;
    };
    // One shared adapter for the cold domains; its cost is split evenly.
    if (!shared.empty()) {
      std::vector<int> cold;
      for (size_t i : shared) cold.push_back(domains[i]);
      const data::SampleIds train = data::ConcatSplitParts(job.splits, cold);
      const data::SampleIds validation =
          data::ConcatSplitParts(job.splits, cold, data::SplitPart::kValidation);
      std::vector<const data::SampleIds*> tests;
      for (int d : cold) tests.push_back(&job.splits[d].test);
      std::unique_ptr<Trainer> trainer =
          MakeTrainer(method, job, base, rows, o, plan.shared_lr_scale);
      const TrainOutcome t =
          TrainAndSelect(trainer.get(), job.dataset, train, validation, tests, epochs,
                         plan.shared_batch_size, o.seed + 1000 * cold.front() + 7, o, ctcvr, dim);
      const int64_t k = static_cast<int64_t>(shared.size());
      for (size_t j = 0; j < shared.size(); ++j) {
        MethodDomainResult& r = out[shared[j]];
        fill(&r, t, t.tests[j], plan.shared_batch_size, main_lr * plan.shared_lr_scale);
        r.seconds_per_epoch /= k;
        r.pull_bytes /= k;
        r.allreduce_bytes /= k;
        r.trainable_params = trainer->TrainableParams() / k;
        r.checkpoint_bytes = trainer->CheckpointBytes() / k;
      }
    }
    for (size_t i = 0; i < domains.size(); ++i) {
      MethodDomainResult& r = out[i];
      if (r.mode == "shared") continue;
      const data::DomainSplit& split = job.splits[domains[i]];
      const bool base_only = r.mode == "base";
      int batch = o.batch_size;
      double lr_scale = 1;
      if (adapter && !base_only) {
        batch = plan.domains[i].batch_size;
        lr_scale = plan.domains[i].lr_scale;
      }
      std::unique_ptr<Trainer> trainer =
          MakeTrainer(base_only ? Method::kFrozen : method, job, base, rows, o, lr_scale);
      const TrainOutcome t =
          TrainAndSelect(trainer.get(), job.dataset, split.train, split.validation, {&split.test},
                         base_only ? 0 : epochs, batch, o.seed + 1000 * domains[i], o, ctcvr, dim);
      fill(&r, t, t.tests[0], base_only ? 0 : batch, base_only ? 0 : main_lr * lr_scale);
      r.trainable_params = trainer->TrainableParams();
      r.checkpoint_bytes = trainer->CheckpointBytes();
    }
    for (const MethodDomainResult& r : out) {
      LOG(INFO) << "compare: " << r.method << " on " << r.domain << " (" << r.mode
                << ", batch " << r.batch_size << "): validation AUC " << r.validation_auc
                << ", test AUC " << r.test_auc << " (epoch " << r.best_epoch << "), "
                << r.seconds_per_epoch << " s/epoch";
      report.results.push_back(r);
    }
  }
  return report;
}

StatusOr<MethodReport> RunMethodsOnModelDir(const proto::DataSpec& data,
                                            const std::string& model_dir,
                                            const MethodRunnerOptions& options) {
  IAK_ASSIGN_OR_RETURN(JobData job, LoadJobData(data));
  IAK_ASSIGN_OR_RETURN(embedding::ModelDirectory dir, embedding::LoadModelDirectory(model_dir));
  IAK_ASSIGN_OR_RETURN(model::BaseModel base, model::BaseModel::Deserialize(dir.dense_blob));
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<embedding::LocalEmbeddingTable> table,
                       embedding::LocalEmbeddingTable::Open(dir));
  LocalLookup rows(table.get());
  return RunMethods(job, base, rows, options);
}

}  // namespace iak::worker
