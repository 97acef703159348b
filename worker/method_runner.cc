#include "worker/method_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <unordered_map>

#include <glog/logging.h>

#include "embedding/model_directory.h"
#include "model/adam.h"
#include "model/fine_tune_step.h"
#include "model/loss.h"
#include "model/metrics.h"
#include "worker/local_lookup.h"

namespace iak::worker {
namespace {

constexpr int kEvalBatch = 1024;
constexpr float kAdagradEps = 1e-8f;

int64_t Floats(size_t n) { return static_cast<int64_t>(n * sizeof(float)); }

// Activations and labels of one batch through the base model's pieces.
struct Buffers {
  std::vector<float> x, dx, h, dh, logits, dlogits, click, conversion;
  void Resize(const model::BaseModelConfig& c, int batch) {
    x.resize(static_cast<size_t>(batch) * c.input_dim());
    dx.resize(x.size());
    h.resize(static_cast<size_t>(batch) * c.h_dim());
    dh.resize(h.size());
    logits.resize(static_cast<size_t>(batch) * c.num_tasks);
    dlogits.resize(logits.size());
    click.resize(batch);
    conversion.resize(batch);
  }
};

// One method's model for one domain.
class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual void TrainBatch(const uint32_t* ids, int batch, int epoch) = 0;
  // p_ctr[n] for samples ids[0..n).
  virtual void Predict(const uint32_t* ids, int n, float* p_ctr) = 0;
  virtual int64_t TrainableParams() const = 0;
  virtual int64_t CheckpointBytes() const = 0;
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
  // Full forward/backward of `model` on x (already pooled); gradients of the
  // parameters into model->mutable_grads() (zeroed first), dx when wanted.
  void DenseStep(model::BaseModel* model, int batch, bool want_dx) {
    model->ZeroGrads();
    model->ForwardBottom(buf_.x.data(), batch, buf_.h.data(), &ws_);
    model->ForwardTowers(buf_.h.data(), batch, buf_.logits.data(), &ws_);
    model::TaskLoss(buf_.logits.data(), batch, model->config().num_tasks, buf_.click.data(),
                    buf_.conversion.data(), buf_.dlogits.data());
    model->BackwardTowers(buf_.dlogits.data(), batch, buf_.dh.data(), model->mutable_grads(),
                          &ws_);
    model->BackwardBottom(buf_.dh.data(), batch, want_dx ? buf_.dx.data() : nullptr,
                          model->mutable_grads(), &ws_);
  }
  void PredictWith(const model::BaseModel& model, const model::IakModule* iak,
                   const model::RowLookup& rows, const uint32_t* ids, int n, float* p) {
    buf_.Resize(model.config(), n);
    model::PoolBatch(data_, ids, n, model.config().embedding_dim, rows, buf_.x.data());
    step_.Predict(model, iak, buf_.x.data(), n, p, nullptr);
  }

  const data::Dataset& data_;
  const model::BaseModel& base_;
  const model::RowLookup& rows_;
  Buffers buf_;
  model::BaseModelWorkspace ws_;
  model::FineTuneStep step_;
};

class FrozenTrainer : public TrainerBase {
 public:
  using TrainerBase::TrainerBase;
  void TrainBatch(const uint32_t*, int, int) override {}
  void Predict(const uint32_t* ids, int n, float* p) override {
    PredictWith(base_, nullptr, rows_, ids, n, p);
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
  void Predict(const uint32_t* ids, int n, float* p) override {
    PredictWith(model_, nullptr, rows_, ids, n, p);
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

// The rows full fine-tuning has touched, over the frozen snapshot.
class OverlayRows : public model::RowLookup, public model::RowGradientSink {
 public:
  OverlayRows(const model::RowLookup* frozen, int dim) : frozen_(frozen), dim_(dim) {}

  void Ensure(uint64_t key) {
    auto [it, inserted] = slots_.try_emplace(key, slots_.size());
    if (!inserted) return;
    const float* row = frozen_->Find(key);
    for (int j = 0; j < dim_; ++j) rows_.push_back(row != nullptr ? row[j] : 0.0f);
    accum_.resize(rows_.size(), 0.0f);
    grads_.resize(rows_.size(), 0.0f);
  }
  const float* Find(uint64_t key) const override {
    auto it = slots_.find(key);
    return it == slots_.end() ? frozen_->Find(key) : rows_.data() + it->second * dim_;
  }
  void Add(uint64_t key, const float* grad) override {
    const size_t slot = slots_.at(key);
    if (grads_touched_flag_.size() <= slot) grads_touched_flag_.resize(slot + 1, 0);
    if (!grads_touched_flag_[slot]) {
      grads_touched_flag_[slot] = 1;
      touched_.push_back(slot);
    }
    float* g = grads_.data() + slot * dim_;
    for (int j = 0; j < dim_; ++j) g[j] += grad[j];
  }
  void ApplyAdagrad(float lr) {
    for (size_t slot : touched_) {
      float* row = rows_.data() + slot * dim_;
      float* acc = accum_.data() + slot * dim_;
      float* g = grads_.data() + slot * dim_;
      for (int j = 0; j < dim_; ++j) {
        acc[j] += g[j] * g[j];
        row[j] -= lr * g[j] / (std::sqrt(acc[j]) + kAdagradEps);
        g[j] = 0.0f;
      }
      grads_touched_flag_[slot] = 0;
    }
    touched_.clear();
  }
  size_t size() const { return slots_.size(); }

 private:
  const model::RowLookup* frozen_;
  int dim_;
  std::unordered_map<uint64_t, size_t> slots_;
  std::vector<float> rows_, accum_, grads_;
  std::vector<char> grads_touched_flag_;
  std::vector<size_t> touched_;
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
        scratch_(base.config().embedding_dim) {}
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
    model::ScatterPoolGradient(data_, ids, batch, dim, buf_.dx.data(), &overlay_,
                               scratch_.data());
    overlay_.ApplyAdagrad(embedding_lr_);
  }
  void Predict(const uint32_t* ids, int n, float* p) override {
    PredictWith(model_, nullptr, overlay_, ids, n, p);
  }
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
  std::vector<float> scratch_;
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
  void Predict(const uint32_t* ids, int n, float* p) override {
    lora_.Merge(base_.params().data(), merged_.mutable_params());
    PredictWith(merged_, nullptr, rows_, ids, n, p);
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
                 const MethodRunnerOptions& options, int compression_epochs)
      : TrainerBase(data, base, rows),
        iak_(config),
        options_(options),
        compression_epochs_(compression_epochs),
        rng_(options.seed + 17) {
    iak_.Init(options.seed);
    model::AdamOptions o;
    o.lr = options.adapter_lr;
    adam_ = std::make_unique<model::Adam>(iak_.num_params(), o);
  }
  void TrainBatch(const uint32_t* ids, int batch, int epoch) override {
    Labels(ids, batch);
    model::PoolBatch(data_, ids, batch, base_.config().embedding_dim, rows_, buf_.x.data());
    const bool plain = iak_.config().plain_adapter;
    const bool matching = !plain && epoch >= compression_epochs_;
    const float beta = plain ? 0.0f
                       : matching ? options_.beta_matching
                                  : options_.beta_compression;
    adam_->set_lr(matching ? options_.adapter_lr / 2 : options_.adapter_lr);
    step_.Run(base_, &iak_, matching ? model::IakPhase::kMatching : model::IakPhase::kCompression,
              beta, buf_.x.data(), batch, buf_.click.data(),
              data_.has_conversion() ? buf_.conversion.data() : nullptr, &rng_);
    if (matching) {
      adam_->Step(iak_.mutable_params(), iak_.grads().data(), {iak_.decoder_param_range()});
    } else {
      adam_->Step(iak_.mutable_params(), iak_.grads().data());
    }
  }
  void Predict(const uint32_t* ids, int n, float* p) override {
    PredictWith(base_, &iak_, rows_, ids, n, p);
  }
  int64_t TrainableParams() const override { return static_cast<int64_t>(iak_.num_params()); }
  int64_t CheckpointBytes() const override {
    return static_cast<int64_t>(iak_.Serialize().size() + adam_->Serialize().size());
  }

 private:
  model::IakModule iak_;
  const MethodRunnerOptions& options_;
  int compression_epochs_;
  std::mt19937_64 rng_;
  std::unique_ptr<model::Adam> adam_;
};

StatusOr<double> Auc(Trainer* trainer, const data::Dataset& data, const data::SampleIds& ids) {
  std::vector<float> scores(ids.size()), labels(ids.size());
  for (size_t begin = 0; begin < ids.size(); begin += kEvalBatch) {
    const int n = static_cast<int>(std::min<size_t>(kEvalBatch, ids.size() - begin));
    trainer->Predict(ids.data() + begin, n, scores.data() + begin);
  }
  for (size_t i = 0; i < ids.size(); ++i) labels[i] = data.click[ids[i]];
  return model::RocAuc(scores, labels);
}

std::unique_ptr<Trainer> MakeTrainer(Method method, const JobData& job,
                                     const model::BaseModel& base, const model::RowLookup& rows,
                                     const MethodRunnerOptions& o) {
  model::IakConfig iak;
  iak.input_dim = base.config().h_dim();
  iak.latent_dim = o.latent_dim;
  iak.encoder_hidden = o.adapter_hidden;
  iak.decoder_hidden = o.adapter_hidden;
  const int compression_epochs =
      static_cast<int>(std::ceil(o.epochs * o.compression_fraction - 1e-9));
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
      return std::make_unique<AdapterTrainer>(job.dataset, base, rows, iak, o, o.epochs);
    case Method::kIak:
      return std::make_unique<AdapterTrainer>(job.dataset, base, rows, iak, o,
                                              compression_epochs);
  }
  return nullptr;
}

std::string Fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string Bytes(int64_t b) {
  char buf[48];
  if (b >= (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", b / 1048576.0);
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld B", static_cast<long long>(b));
  }
  return buf;
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

StatusOr<MethodReport> RunMethods(const JobData& job, const model::BaseModel& base,
                                  const model::RowLookup& rows, const MethodRunnerOptions& o) {
  if (o.epochs < 0) return InvalidArgumentError("compare: epochs must be >= 0");
  if (o.batch_size <= 0) return InvalidArgumentError("compare: batch_size must be > 0");
  if (o.methods.empty()) return InvalidArgumentError("compare: no methods chosen");
  if (job.dataset.num_fields() != base.config().num_fields) {
    return FailedPreconditionError(
        "compare: the data has " + std::to_string(job.dataset.num_fields()) +
        " fields but the model directory's base model expects " +
        std::to_string(base.config().num_fields) + "; pre-train on this data first");
  }
  IAK_RETURN_IF_ERROR(model::ValidateLoraConfig(o.lora).WithContext("compare"));
  MethodReport report;
  for (Method method : o.methods) {
    for (int domain : job.finetune_domains) {
      const data::DomainSplit& split = job.splits[domain];
      MethodDomainResult r;
      r.method = MethodName(method);
      r.domain = job.dataset.domain_names[domain];
      r.train_samples = static_cast<int64_t>(split.train.size());
      r.validation_samples = static_cast<int64_t>(split.validation.size());
      r.test_samples = static_cast<int64_t>(split.test.size());
      std::unique_ptr<Trainer> trainer = MakeTrainer(method, job, base, rows, o);
      const int epochs = method == Method::kFrozen ? 0 : o.epochs;
      double train_seconds = 0;
      r.validation_auc = -1;
      std::mt19937_64 shuffle(o.seed + 1000 * domain);
      data::SampleIds order = split.train;
      for (int epoch = 0; epoch <= epochs; ++epoch) {
        if (epoch > 0) {
          std::shuffle(order.begin(), order.end(), shuffle);
          size_t limit = order.size();
          if (o.max_steps_per_epoch > 0) {
            limit = std::min(limit, static_cast<size_t>(o.max_steps_per_epoch) * o.batch_size);
          }
          const auto start = std::chrono::steady_clock::now();
          for (size_t begin = 0; begin < limit; begin += o.batch_size) {
            const int n = static_cast<int>(std::min<size_t>(o.batch_size, limit - begin));
            trainer->TrainBatch(order.data() + begin, n, epoch - 1);
          }
          train_seconds +=
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        // Epoch 0 (untrained) only counts for methods that do not train.
        if (epoch == 0 && epochs > 0) continue;
        StatusOr<double> val = Auc(trainer.get(), job.dataset, split.validation);
        if (!val.ok()) return val.status().WithContext("validation split of " + r.domain);
        if (*val > r.validation_auc) {
          StatusOr<double> test = Auc(trainer.get(), job.dataset, split.test);
          if (!test.ok()) return test.status().WithContext("test split of " + r.domain);
          r.validation_auc = *val;
          r.test_auc = *test;
          r.best_epoch = epoch;
        }
      }
      r.seconds_per_epoch = epochs > 0 ? train_seconds / epochs : 0;
      r.trainable_params = trainer->TrainableParams();
      r.checkpoint_bytes = trainer->CheckpointBytes();
      LOG(INFO) << "compare: " << r.method << " on " << r.domain << ": validation AUC "
                << r.validation_auc << ", test AUC " << r.test_auc << " (epoch " << r.best_epoch
                << "), " << r.seconds_per_epoch << " s/epoch";
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

std::vector<MethodSummary> MethodReport::Summaries() const {
  std::vector<MethodSummary> out;
  std::unordered_map<std::string, double> frozen_auc;
  for (const MethodDomainResult& r : results) {
    if (r.method == "frozen") frozen_auc[r.domain] = r.test_auc;
  }
  for (const MethodDomainResult& r : results) {
    if (out.empty() || out.back().method != r.method) {
      out.push_back(MethodSummary{});
      out.back().method = r.method;
    }
    MethodSummary& s = out.back();
    s.mean_validation_auc += r.validation_auc;
    s.mean_test_auc += r.test_auc;
    s.seconds_per_epoch += r.seconds_per_epoch;
    s.trainable_params += r.trainable_params;
    s.checkpoint_bytes += r.checkpoint_bytes;
    auto it = frozen_auc.find(r.domain);
    if (it != frozen_auc.end() && r.test_auc > it->second) ++s.domains_above_frozen;
  }
  for (MethodSummary& s : out) {
    int n = 0;
    for (const MethodDomainResult& r : results) n += r.method == s.method;
    s.mean_validation_auc /= n;
    s.mean_test_auc /= n;
  }
  return out;
}

std::string MethodReport::ToMarkdown() const {
  std::ostringstream out;
  std::vector<std::string> domains;
  for (const MethodDomainResult& r : results) {
    if (std::find(domains.begin(), domains.end(), r.domain) == domains.end()) {
      domains.push_back(r.domain);
    }
  }
  const std::vector<MethodSummary> summaries = Summaries();
  out << "Test CTR-AUC per domain (model chosen at the epoch with the best validation AUC):\n\n"
      << "| method |";
  for (const std::string& d : domains) out << " " << d << " |";
  out << " mean | mean val. AUC |\n|---|";
  for (size_t i = 0; i < domains.size(); ++i) out << "---|";
  out << "---|---|\n";
  for (const MethodSummary& s : summaries) {
    out << "| " << s.method << " |";
    for (const std::string& d : domains) {
      for (const MethodDomainResult& r : results) {
        if (r.method == s.method && r.domain == d) out << " " << Fixed(r.test_auc, 4) << " |";
      }
    }
    out << " " << Fixed(s.mean_test_auc, 4) << " | " << Fixed(s.mean_validation_auc, 4)
        << " |\n";
  }
  out << "\nCost (summed over the " << domains.size()
      << " domains; one model per domain):\n\n"
      << "| method | wall time / epoch (s) | trainable params | checkpoint | domains above "
         "frozen |\n|---|---|---|---|---|\n";
  for (const MethodSummary& s : summaries) {
    out << "| " << s.method << " | " << Fixed(s.seconds_per_epoch, 3) << " | "
        << s.trainable_params << " | " << Bytes(s.checkpoint_bytes) << " ("
        << s.checkpoint_bytes << " B) | " << s.domains_above_frozen << "/" << domains.size()
        << " |\n";
  }
  return out.str();
}

std::string MethodReport::ToJson() const {
  std::ostringstream out;
  out << "{\n  \"results\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const MethodDomainResult& r = results[i];
    out << "    {\"method\": \"" << r.method << "\", \"domain\": \"" << r.domain
        << "\", \"train_samples\": " << r.train_samples
        << ", \"validation_samples\": " << r.validation_samples
        << ", \"test_samples\": " << r.test_samples
        << ", \"validation_auc\": " << Fixed(r.validation_auc, 6)
        << ", \"test_auc\": " << Fixed(r.test_auc, 6) << ", \"best_epoch\": " << r.best_epoch
        << ", \"seconds_per_epoch\": " << Fixed(r.seconds_per_epoch, 4)
        << ", \"trainable_params\": " << r.trainable_params
        << ", \"checkpoint_bytes\": " << r.checkpoint_bytes << "}"
        << (i + 1 < results.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"summary\": [\n";
  const std::vector<MethodSummary> summaries = Summaries();
  for (size_t i = 0; i < summaries.size(); ++i) {
    const MethodSummary& s = summaries[i];
    out << "    {\"method\": \"" << s.method
        << "\", \"mean_test_auc\": " << Fixed(s.mean_test_auc, 6)
        << ", \"mean_validation_auc\": " << Fixed(s.mean_validation_auc, 6)
        << ", \"seconds_per_epoch\": " << Fixed(s.seconds_per_epoch, 4)
        << ", \"trainable_params\": " << s.trainable_params
        << ", \"checkpoint_bytes\": " << s.checkpoint_bytes
        << ", \"domains_above_frozen\": " << s.domains_above_frozen << "}"
        << (i + 1 < summaries.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  return out.str();
}

}  // namespace iak::worker
