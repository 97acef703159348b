#include "worker/batch_pipeline.h"

#include <glog/logging.h>

#include "model/iak_module.h"
#include "model/mersenne_twister.h"

namespace iak::worker {

BatchPipeline::BatchPipeline(const BatchPipelineOptions& options, const data::Dataset* data,
                             RowSource* source, FrozenPrefixCache* cache, NextFn next,
                             ResolvedRows* resolved)
    : options_(options),
      data_(data),
      source_(source),
      cache_(cache),
      next_(std::move(next)),
      resolved_(resolved),
      rows_(options.embedding_dim) {
  CHECK_GE(options_.depth, 1);
  CHECK(resolved_ == nullptr || (resolved_->data() == data_ && options_.stream == nullptr &&
                                  resolved_->dim() == options_.embedding_dim))
      << "resolved rows are of another dataset";
  // depth slots being filled or ready, plus the one the consumer holds.
  for (int i = 0; i < options_.depth + 1; ++i) {
    storage_.push_back(std::make_unique<PreparedBatch>());
    free_.push_back(storage_.back().get());
  }
  thread_ = std::thread([this] { Loop(); });
}

BatchPipeline::~BatchPipeline() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchPipeline::Loop() {
  for (int64_t index = options_.first_index;; ++index) {
    PreparedBatch* batch = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !free_.empty(); });
      if (stop_) return;
      batch = free_.back();
      free_.pop_back();
    }
    batch->index = index;
    bool more = next_(&batch->tag, &batch->ids);
    Status prepared = more ? Prepare(batch) : Status::Ok();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!more || !prepared.ok()) {
        finished_ = true;
        if (!prepared.ok()) {
          error_ = prepared.WithContext("data pipeline, batch " + std::to_string(index));
        }
        free_.push_back(batch);
      } else {
        ready_.push_back(batch);
      }
    }
    cv_.notify_all();
    if (!more || !prepared.ok()) return;
  }
}

Status BatchPipeline::Prepare(PreparedBatch* batch) {
  const int n = batch->size();
  const uint32_t* ids = batch->ids.data();  // the cache's keys
  const data::Dataset* source = data_;
  const uint32_t* rows = ids;  // the samples' indices in *source
  if (options_.stream != nullptr) {
    data::Dataset& samples = batch->samples;
    samples = options_.stream->empty();
    IAK_RETURN_IF_ERROR(options_.stream->Gather(ids, static_cast<size_t>(n), &samples));
    for (int i = static_cast<int>(local_.size()); i < n; ++i) local_.push_back(i);
    source = &samples;
    rows = local_.data();
  }
  const data::Dataset& data = *source;
  batch->click.resize(n);
  for (int i = 0; i < n; ++i) batch->click[i] = data.click[rows[i]];
  batch->conversion.resize(data.has_conversion() ? n : 0);
  for (int i = 0; i < n && data.has_conversion(); ++i) {
    batch->conversion[i] = data.conversion[rows[i]];
  }
  batch->eps.resize(static_cast<size_t>(n) * options_.latent_dim);
  if (n > 0 && options_.latent_dim > 0) {
    const uint64_t index = static_cast<uint64_t>(batch->index);
    std::seed_seq seed{static_cast<uint32_t>(options_.noise_seed),
                       static_cast<uint32_t>(options_.noise_seed >> 32),
                       static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32)};
    model::Mt19937_64 rng(seed);  // the stream of std::mt19937_64(seed), faster
    model::IakModule::DrawEps(n, options_.latent_dim, &rng, batch->eps.data());
  }
  if (!options_.pool) return Status::Ok();
  batch->from_cache = cache_ != nullptr && cache_->ContainsAll(ids, n);
  if (batch->from_cache) {
    batch->h.resize(static_cast<size_t>(n) * options_.h_dim);
    return cache_->Get(ids, n, batch->h.data());
  }
  if (n == 0) return Status::Ok();
  batch->x.resize(static_cast<size_t>(n) * options_.input_dim);
  if (resolved_ != nullptr) return resolved_->Pool(rows, n, batch->x.data());
  rows_.CollectKeys(data, rows, n);
  IAK_RETURN_IF_ERROR(source_->Fetch(rows_.keys().data(), rows_.keys().size(), rows_.rows()));
  rows_.Pool(data, rows, n, batch->x.data());
  return Status::Ok();
}

StatusOr<PreparedBatch*> BatchPipeline::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    PreparedBatch* batch = ready_.front();
    ready_.pop_front();
    return batch;
  }
  if (!error_.ok()) return error_;
  return static_cast<PreparedBatch*>(nullptr);
}

void BatchPipeline::Release(PreparedBatch* batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(batch);
  }
  cv_.notify_all();
}

}  // namespace iak::worker
