#include "worker/resolved_rows.h"

#include "model/embedding_pooling.h"

namespace iak::worker {

std::unique_ptr<ResolvedRows> ResolvedRows::Make(const data::Dataset* data, RowSource* source,
                                                 int dim) {
  if (!source->resolves_rows_of(data)) return nullptr;
  return std::unique_ptr<ResolvedRows>(new ResolvedRows(data, source, dim));
}

ResolvedRows::ResolvedRows(const data::Dataset* data, RowSource* source, int dim)
    : data_(data), source_(source), dim_(dim), zero_row_(static_cast<size_t>(dim), 0.0f) {}

Status ResolvedRows::Resolve(const uint32_t* ids, int n) {
  const data::Dataset& data = *data_;
  if (row_of_.size() != data.keys.size()) row_of_.assign(data.keys.size(), nullptr);
  const size_t fields = static_cast<size_t>(data.num_fields());
  pending_.clear();
  keys_.clear();
  for (int r = 0; r < n; ++r) {
    const size_t first = static_cast<size_t>(ids[r]) * fields;
    const uint64_t begin = data.offsets[first], end = data.offsets[first + fields];
    // A sample is resolved all at once, so its first entry says for all.
    if (begin == end || row_of_[begin] != nullptr) continue;
    for (uint64_t i = begin; i < end; ++i) {
      pending_.push_back(i);
      keys_.push_back(data.keys[i]);
    }
  }
  if (keys_.empty()) return Status::Ok();
  found_.resize(keys_.size());
  IAK_RETURN_IF_ERROR(source_->ResolveRows(keys_.data(), keys_.size(), found_.data()));
  for (size_t j = 0; j < pending_.size(); ++j) {
    row_of_[pending_[j]] = found_[j] != nullptr ? found_[j] : zero_row_.data();
  }
  return Status::Ok();
}

Status ResolvedRows::Pool(const uint32_t* ids, int n, float* x) {
  IAK_RETURN_IF_ERROR(Resolve(ids, n));
  const data::Dataset& data = *data_;
  const size_t fields = static_cast<size_t>(data.num_fields());
  const size_t width = fields * dim_;
  const size_t row_bytes = sizeof(float) * dim_;
  // The rows are scattered over a table far larger than the caches: ask for
  // the rows of sample r + kAhead while pooling sample r, so misses overlap.
  constexpr int kAhead = 4;
  auto prefetch = [&](uint32_t id) {
    const size_t first = static_cast<size_t>(id) * fields;
    for (uint64_t i = data.offsets[first]; i < data.offsets[first + fields]; ++i) {
      const char* row = reinterpret_cast<const char*>(row_of_[i]);
      __builtin_prefetch(row);
      __builtin_prefetch(row + row_bytes - 1);
    }
  };
  for (int r = 0; r < n && r < kAhead; ++r) prefetch(ids[r]);
  for (int r = 0; r < n; ++r) {
    if (r + kAhead < n) prefetch(ids[r + kAhead]);
    const float* const* rows = row_of_.data() + data.offsets[static_cast<size_t>(ids[r]) * fields];
    model::PoolSampleRows(data, ids[r], dim_, [rows](size_t k) { return rows[k]; }, x + r * width);
  }
  return Status::Ok();
}

}  // namespace iak::worker
