#include "worker/row_source.h"

#include <cstdio>
#include <cstring>
#include <string>

#include <glog/logging.h>

#include "worker/pulled_rows.h"

namespace iak::worker {

Status PullMonitor::RecordPull(const ps::PullStats& stats) {
  // An exponential moving average: recent pulls weigh most.
  const double ms = stats.elapsed.count() / 1000.0;
  const double old = mean_pull_ms.load();
  mean_pull_ms.store(old == 0 ? ms : 0.9 * old + 0.1 * ms);
  cache_hit_rate.store(stats.cache_hit_rate);
  const uint64_t sent = stats.keys >= stats.cache_hits ? stats.keys - stats.cache_hits : 0;
  keys_looked_up.fetch_add(sent);
  keys_missing.fetch_add(stats.missing);
  return CheckMissingRate();
}

Status PullMonitor::RecordKeptReads(uint64_t reads, uint64_t missing) {
  kept_reads.fetch_add(reads);
  kept_reads_missing.fetch_add(missing);
  return CheckMissingRate();
}

Status PullMonitor::CheckMissingRate() {
  const uint64_t looked_up = keys_read();
  const uint64_t missing = keys_read_missing();
  if (looked_up < min_lookups_ || looked_up == 0) return Status::Ok();
  const double rate = static_cast<double>(missing) / static_cast<double>(looked_up);
  char text[160];
  std::snprintf(text, sizeof(text), "%.2f%% of the %llu keys looked up (%llu) are absent from the "
                "embedding snapshot",
                100 * rate, static_cast<unsigned long long>(looked_up),
                static_cast<unsigned long long>(missing));
  if (rate > max_missing_rate_) {
    return FailedPreconditionError(
        std::string(text) + ", more than max_missing_key_rate " + std::to_string(max_missing_rate_) +
        ": the table's keys do not match the data (a snapshot of other data, or another key "
        "hashing, e.g. an imported table keyed differently); check the model_dir and the "
        "data, or raise max_missing_key_rate in the job spec (docs/job_spec.md)");
  }
  if (!warned_ && rate > 0.1) {
    warned_ = true;
    LOG(WARNING) << text << " (zero rows are used for them; the job fails above "
                 << "max_missing_key_rate " << max_missing_rate_ << ")";
  }
  return Status::Ok();
}

MemoryRowSource::MemoryRowSource(const std::unordered_map<uint64_t, std::vector<float>>& table,
                                 int dim)
    : dim_(dim) {
  CHECK_GT(dim, 0);
  std::vector<uint64_t> keys;
  keys.reserve(table.size());
  rows_ = embedding::HugePageBuffer(sizeof(float) * table.size() * static_cast<size_t>(dim));
  float* rows = reinterpret_cast<float*>(rows_.data());
  for (const auto& [key, row] : table) {
    CHECK_EQ(row.size(), static_cast<size_t>(dim)) << "row of key " << key;
    std::memcpy(rows + keys.size() * dim, row.data(), sizeof(float) * dim);
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
          reinterpret_cast<const char*>(row_data() + static_cast<size_t>(scratch_[i + kAhead]) * dim_);
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + bytes - 1);
    }
    float* out = rows_out + i * dim_;
    if (scratch_[i] == embedding::FrozenKeyIndex::kAbsent) {
      std::memset(out, 0, bytes);
    } else {
      std::memcpy(out, row_data() + static_cast<size_t>(scratch_[i]) * dim_, bytes);
    }
  }
  return Status::Ok();
}

Status RowSource::ResolveRows(const uint64_t*, size_t, const float**) {
  return FailedPreconditionError("this row source fetches its rows; it cannot resolve them");
}

Status MemoryRowSource::ResolveRows(const uint64_t* keys, size_t n, const float** rows_out) {
  scratch_.resize(n);
  index_.FindBatch(keys, n, scratch_.data());
  for (size_t i = 0; i < n; ++i) {
    rows_out[i] = scratch_[i] == embedding::FrozenKeyIndex::kAbsent
                      ? nullptr
                      : row_data() + static_cast<size_t>(scratch_[i]) * dim_;
  }
  return Status::Ok();
}

void CopyRowOrZero(const float* row, int dim, float* out) {
  if (row == nullptr) {
    std::memset(out, 0, sizeof(float) * dim);
  } else {
    std::memcpy(out, row, sizeof(float) * dim);
  }
}

Status LookupRowSource::Fetch(const uint64_t* keys, size_t n, float* rows_out) {
  for (size_t i = 0; i < n; ++i) {
    CopyRowOrZero(rows_->Find(keys[i]), dim_, rows_out + i * static_cast<size_t>(dim_));
  }
  return Status::Ok();
}

Status LookupRowSource::ResolveRows(const uint64_t* keys, size_t n, const float** rows_out) {
  for (size_t i = 0; i < n; ++i) rows_out[i] = rows_->Find(keys[i]);
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
