#include "model/pretrainer.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>
#include <utility>

#include <glog/logging.h>

#include "model/adam.h"
#include "model/embedding_pooling.h"
#include "model/loss.h"

namespace iak::model {
namespace {

constexpr float kAdagradEps = 1e-8f;

// Rows and Adagrad accumulators in two flat arrays indexed by slot, so a
// training step does no per-key allocation once every key has been seen.
class SparseTable : public RowLookup {
 public:
  SparseTable(int dim, float init_scale, uint64_t seed)
      : dim_(dim), init_(-init_scale, init_scale), rng_(seed) {}

  void EnsureRow(uint64_t key) {
    auto [it, inserted] = slots_.try_emplace(key, keys_.size());
    if (!inserted) return;
    keys_.push_back(key);
    for (int j = 0; j < dim_; ++j) rows_.push_back(init_(rng_));
    accum_.resize(rows_.size(), 0.0f);
  }

  const float* Find(uint64_t key) const override {
    auto it = slots_.find(key);
    return it == slots_.end() ? nullptr : rows_.data() + it->second * dim_;
  }

  // The slot of a key that EnsureRow() has seen.
  size_t Slot(uint64_t key) const {
    auto it = slots_.find(key);
    CHECK(it != slots_.end()) << "key " << key << " has no row";
    return it->second;
  }

  void AdagradUpdate(size_t slot, const float* grad, float lr) {
    float* row = rows_.data() + slot * dim_;
    float* acc = accum_.data() + slot * dim_;
    for (int j = 0; j < dim_; ++j) {
      acc[j] += grad[j] * grad[j];
      row[j] -= lr * grad[j] / (std::sqrt(acc[j]) + kAdagradEps);
    }
  }

  EmbeddingTable Export() const {
    EmbeddingTable table;
    table.reserve(keys_.size());
    for (size_t s = 0; s < keys_.size(); ++s) {
      table.emplace(keys_[s], std::vector<float>(rows_.begin() + s * dim_,
                                                 rows_.begin() + (s + 1) * dim_));
    }
    return table;
  }

 private:
  int dim_;
  std::uniform_real_distribution<float> init_;
  std::mt19937_64 rng_;
  std::unordered_map<uint64_t, size_t> slots_;
  std::vector<uint64_t> keys_;
  std::vector<float> rows_;
  std::vector<float> accum_;
};

// Sums the gradient of each distinct key of a batch, in first-seen order.
// Indexed by table slot (every key of the batch has a row by then), so a
// step allocates nothing once the buffers have grown.
class BatchGradients : public RowGradientSink {
 public:
  BatchGradients(const SparseTable* table, int dim) : table_(table), dim_(dim) {}

  void Clear() {
    for (size_t slot : slots_) position_[slot] = -1;
    slots_.clear();
    grads_.clear();
  }

  void Add(uint64_t key, const float* grad) override {
    const size_t slot = table_->Slot(key);
    if (slot >= position_.size()) position_.resize(slot + 1, -1);
    if (position_[slot] < 0) {
      position_[slot] = static_cast<int64_t>(slots_.size());
      slots_.push_back(slot);
      grads_.resize(grads_.size() + dim_, 0.0f);
    }
    float* g = grads_.data() + position_[slot] * dim_;
    for (int j = 0; j < dim_; ++j) g[j] += grad[j];
  }

  size_t size() const { return slots_.size(); }
  size_t slot(size_t i) const { return slots_[i]; }
  const float* grad(size_t i) const { return grads_.data() + i * dim_; }

 private:
  const SparseTable* table_;
  int dim_;
  std::vector<int64_t> position_;  // by slot: index into slots_, or -1
  std::vector<size_t> slots_;
  std::vector<float> grads_;
};

Status ValidateOptions(const data::Dataset& data, const data::SampleIds& ids,
                       const PretrainOptions& o) {
  if (o.epochs < 0) return InvalidArgumentError("pretrain: epochs must be >= 0");
  if (o.batch_size <= 0) return InvalidArgumentError("pretrain: batch_size must be > 0");
  if (!(o.dense_lr > 0.0f) || !(o.embedding_lr > 0.0f)) {
    return InvalidArgumentError("pretrain: learning rates must be > 0");
  }
  if (!(o.key_dropout >= 0.0f && o.key_dropout < 1.0f)) {
    return InvalidArgumentError("pretrain: key_dropout must be in [0, 1)");
  }
  if (ids.empty()) return InvalidArgumentError("pretrain: no training samples");
  for (uint32_t id : ids) {
    if (id >= data.size()) {
      return InvalidArgumentError("pretrain: sample id " + std::to_string(id) +
                                  " is outside the dataset of " +
                                  std::to_string(data.size()) + " samples");
    }
  }
  if (o.num_tasks == 2 && !data.has_conversion()) {
    return InvalidArgumentError(
        "pretrain: num_tasks = 2 (ESMM) needs conversion labels, which this dataset lacks");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<PretrainResult> Pretrain(const data::Dataset& data,
                                  const data::SampleIds& ids,
                                  const PretrainOptions& options) {
  BaseModelConfig config;
  config.embedding_dim = options.embedding_dim;
  config.num_fields = data.num_fields();
  config.bottom_hidden = options.bottom_hidden;
  config.tower_hidden = options.tower_hidden;
  config.num_tasks = options.num_tasks;
  IAK_RETURN_IF_ERROR(ValidateBaseModelConfig(config).WithContext("pretrain"));
  IAK_RETURN_IF_ERROR(ValidateOptions(data, ids, options));

  const int dim = options.embedding_dim;
  const int tasks = options.num_tasks;
  const int max_batch = options.batch_size;
  std::mt19937_64 rng(options.seed);
  BaseModel model(config);
  model.Init(rng());
  SparseTable table(dim, options.embedding_init_scale, rng());
  AdamOptions adam_options;
  adam_options.lr = options.dense_lr;
  Adam adam(model.num_params(), adam_options);

  BaseModelWorkspace ws;
  BatchGradients row_grads(&table, dim);
  std::vector<float> x(static_cast<size_t>(max_batch) * config.input_dim());
  std::vector<float> dx(x.size());
  std::vector<float> h(static_cast<size_t>(max_batch) * config.h_dim());
  std::vector<float> dh(h.size());
  std::vector<float> logits(static_cast<size_t>(max_batch) * tasks);
  std::vector<float> dlogits(logits.size());
  std::vector<float> click(max_batch), conversion(max_batch);
  std::vector<float> scratch(dim);
  data::SampleIds order = ids;
  std::vector<float> epoch_losses;
  std::vector<int> dropout_fields;
  for (int f = 0; f < config.num_fields; ++f) {
    const auto& names = options.key_dropout_fields;
    if (std::find(names.begin(), names.end(), data.fields[f].name) != names.end()) {
      dropout_fields.push_back(f);
    }
  }
  const bool dropout = options.key_dropout > 0.0f && !dropout_fields.empty();
  std::mt19937_64 dropout_rng(options.seed ^ 0x6b657964726f70ULL);
  std::bernoulli_distribution drop(options.key_dropout);
  std::vector<char> dropped(static_cast<size_t>(max_batch) * config.num_fields, 0);

  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0.0;
    for (size_t start = 0; start < order.size(); start += max_batch) {
      const int batch =
          static_cast<int>(std::min<size_t>(max_batch, order.size() - start));
      const uint32_t* batch_ids = order.data() + start;
      for (int r = 0; r < batch; ++r) {
        const uint32_t s = batch_ids[r];
        for (int f = 0; f < config.num_fields; ++f) {
          size_t count = 0;
          const uint64_t* keys = data.FieldKeys(s, f, &count);
          for (size_t i = 0; i < count; ++i) table.EnsureRow(keys[i]);
        }
        click[r] = data.click[s];
        conversion[r] = data.has_conversion() ? data.conversion[s] : 0.0f;
      }
      PoolBatch(data, batch_ids, batch, dim, table, x.data());
      if (dropout) {
        for (int r = 0; r < batch; ++r) {
          for (int f : dropout_fields) {
            const bool d = drop(dropout_rng);
            dropped[static_cast<size_t>(r) * config.num_fields + f] = d;
            if (d) {
              std::fill_n(x.data() + static_cast<size_t>(r) * config.input_dim() + f * dim, dim,
                          0.0f);
            }
          }
        }
      }

      model.ZeroGrads();
      float* grads = model.mutable_grads();
      model.ForwardBottom(x.data(), batch, h.data(), &ws);
      model.ForwardTowers(h.data(), batch, logits.data(), &ws);
      const float loss = TaskLoss(logits.data(), batch, tasks, click.data(),
                                  conversion.data(), dlogits.data());
      model.BackwardTowers(dlogits.data(), batch, dh.data(), grads, &ws);
      model.BackwardBottom(dh.data(), batch, dx.data(), grads, &ws);
      adam.Step(model.mutable_params(), grads);

      if (dropout) {
        for (int r = 0; r < batch; ++r) {
          for (int f : dropout_fields) {
            if (dropped[static_cast<size_t>(r) * config.num_fields + f]) {
              std::fill_n(dx.data() + static_cast<size_t>(r) * config.input_dim() + f * dim, dim,
                          0.0f);
            }
          }
        }
      }
      row_grads.Clear();
      ScatterPoolGradient(data, batch_ids, batch, dim, dx.data(), &row_grads,
                          scratch.data());
      for (size_t i = 0; i < row_grads.size(); ++i) {
        table.AdagradUpdate(row_grads.slot(i), row_grads.grad(i),
                            options.embedding_lr);
      }
      loss_sum += static_cast<double>(loss) * batch;
    }
    const float epoch_loss = static_cast<float>(loss_sum / order.size());
    epoch_losses.push_back(epoch_loss);
    LOG(INFO) << "pretrain epoch " << (epoch + 1) << "/" << options.epochs
              << ": mean training loss " << epoch_loss << " over "
              << order.size() << " samples";
  }
  return PretrainResult{std::move(model), table.Export(),
                        std::move(epoch_losses)};
}

}  // namespace iak::model
