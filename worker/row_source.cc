#include "worker/row_source.h"

#include <cstring>

#include <glog/logging.h>

#include "worker/pulled_rows.h"

namespace iak::worker {

MemoryRowSource::MemoryRowSource(const std::unordered_map<uint64_t, std::vector<float>>& table,
                                 int dim)
    : dim_(dim) {
  CHECK_GT(dim, 0);
  std::vector<uint64_t> keys;
  keys.reserve(table.size());
  rows_.resize(table.size() * static_cast<size_t>(dim));
  for (const auto& [key, row] : table) {
    CHECK_EQ(row.size(), static_cast<size_t>(dim)) << "row of key " << key;
    std::memcpy(rows_.data() + keys.size() * dim, row.data(), sizeof(float) * dim);
    keys.push_back(key);
  }
  index_.Build(keys);
}

Status MemoryRowSource::Fetch(const uint64_t* keys, size_t n, float* rows_out) {
  scratch_.resize(n);
  index_.FindBatch(keys, n, scratch_.data());
  const size_t bytes = sizeof(float) * dim_;
  // The rows are scattered over a table far larger than the caches: ask for
  // row i + kAhead while copying row i, so the misses overlap.
  constexpr size_t kAhead = 16;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && scratch_[i + kAhead] != embedding::FrozenKeyIndex::kAbsent) {
      const char* ahead =
          reinterpret_cast<const char*>(rows_.data() + static_cast<size_t>(scratch_[i + kAhead]) * dim_);
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + bytes - 1);
    }
    float* out = rows_out + i * dim_;
    if (scratch_[i] == embedding::FrozenKeyIndex::kAbsent) {
      std::memset(out, 0, bytes);
    } else {
      std::memcpy(out, rows_.data() + static_cast<size_t>(scratch_[i]) * dim_, bytes);
    }
  }
  return Status::Ok();
}

Status LookupRowSource::Fetch(const uint64_t* keys, size_t n, float* rows_out) {
  for (size_t i = 0; i < n; ++i) {
    const float* row = rows_->Find(keys[i]);
    float* out = rows_out + i * static_cast<size_t>(dim_);
    if (row == nullptr) {
      std::memset(out, 0, sizeof(float) * dim_);
    } else {
      std::memcpy(out, row, sizeof(float) * dim_);
    }
  }
  return Status::Ok();
}

Status FetchAndPool(const data::Dataset& data, const uint32_t* ids, int n, RowSource* source,
                    PulledRows* scratch, float* x) {
  if (n == 0) return Status::Ok();
  scratch->CollectKeys(data, ids, n);
  if (!scratch->keys().empty()) {
    IAK_RETURN_IF_ERROR(source->Fetch(scratch->keys().data(), scratch->keys().size(),
                                      scratch->rows()));
  }
  scratch->Pool(data, ids, n, x);
  return Status::Ok();
}

}  // namespace iak::worker
