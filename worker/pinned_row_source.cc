#include "worker/pinned_row_source.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace iak::worker {

uint64_t PinnedRowSource::BytesFor(uint64_t distinct_keys, int dim) {
  // FrozenKeyIndex: a power of two >= 2 keys (at least 16) slots of 16 bytes.
  uint64_t slots = 16;
  while (slots < 2 * distinct_keys) slots <<= 1;
  return distinct_keys * (static_cast<uint64_t>(dim) * sizeof(float) + 1) + slots * 16;
}

std::unique_ptr<PinnedRowSource> PinnedRowSource::Make(const data::Dataset& data,
                                                       RowSource* source, int dim,
                                                       uint64_t budget_bytes,
                                                       PullMonitor* monitor) {
  if (data.keys.empty() || dim <= 0) return nullptr;
  // The distinct keys come from a sorted copy of every occurrence, so the
  // copy must fit the budget too (and is freed before the rows are made).
  if (data.keys.size() > budget_bytes / sizeof(uint64_t)) return nullptr;
  std::vector<uint64_t> keys = data.keys;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.size() >= embedding::FrozenKeyIndex::kMaxRows ||
      BytesFor(keys.size(), dim) > budget_bytes) {
    return nullptr;
  }
  std::unique_ptr<PinnedRowSource> pinned(new PinnedRowSource(&data, source, dim, monitor));
  pinned->index_.Build(keys);
  pinned->rows_ =
      embedding::HugePageBuffer(keys.size() * static_cast<size_t>(dim) * sizeof(float));
  pinned->state_.assign(keys.size(), kNotFetched);
  return pinned;
}

Status PinnedRowSource::ResolveRows(const uint64_t* keys, size_t n, const float** rows_out) {
  slots_.resize(n);
  index_.FindBatch(keys, n, slots_.data());
  for (size_t i = 0; i < n; ++i) {
    if (slots_[i] == embedding::FrozenKeyIndex::kAbsent) {
      return FailedPreconditionError("key " + std::to_string(keys[i]) +
                                     " is not a key of the data set whose rows are kept");
    }
  }
  return ResolveSlots(keys, slots_.data(), n, rows_out);
}

Status PinnedRowSource::ResolveSlots(const uint64_t* keys, const uint32_t* slots, size_t n,
                                     const float** rows_out) {
  fetch_keys_.clear();
  fetch_slots_.clear();
  for (size_t i = 0; i < n; ++i) {
    if (state_[slots[i]] == kNotFetched) {
      state_[slots[i]] = kFetching;  // asked for in this call; fetched once below
      fetch_keys_.push_back(keys[i]);
      fetch_slots_.push_back(slots[i]);
    }
  }
  if (!fetch_keys_.empty()) {
    fetch_rows_.resize(fetch_keys_.size() * static_cast<size_t>(dim_));
    const Status fetched = source_->Fetch(fetch_keys_.data(), fetch_keys_.size(),
                                          fetch_rows_.data());
    if (!fetched.ok()) {
      for (uint32_t slot : fetch_slots_) state_[slot] = kNotFetched;
      return fetched;
    }
    const size_t row_bytes = sizeof(float) * static_cast<size_t>(dim_);
    for (size_t j = 0; j < fetch_slots_.size(); ++j) {
      const float* fetched_row = fetch_rows_.data() + j * dim_;
      std::memcpy(row(fetch_slots_[j]), fetched_row, row_bytes);
      const bool zero = std::all_of(fetched_row, fetched_row + dim_,
                                    [](float v) { return v == 0.0f; });
      state_[fetch_slots_[j]] = zero ? kKeptZero : kKept;
    }
    num_fetched_ += fetch_slots_.size();
  }
  uint64_t zero_reads = 0;
  for (size_t i = 0; i < n; ++i) {
    rows_out[i] = row(slots[i]);
    zero_reads += state_[slots[i]] == kKeptZero;
  }
  if (monitor_ == nullptr) return Status::Ok();
  // The fetch counted its keys (and the servers' missing ones) already.
  for (uint32_t slot : fetch_slots_) zero_reads -= state_[slot] == kKeptZero;
  return monitor_->RecordKeptReads(n - fetch_keys_.size(), zero_reads);
}

Status PinnedRowSource::Fetch(const uint64_t* keys, size_t n, float* rows_out) {
  // The data set's keys from the kept rows (one lookup each), the others in
  // one fetch of the source.
  slots_.resize(n);
  index_.FindBatch(keys, n, slots_.data());
  kept_keys_.clear();
  kept_slots_.clear();
  other_keys_.clear();
  kept_at_.clear();
  other_at_.clear();
  for (size_t i = 0; i < n; ++i) {
    if (slots_[i] != embedding::FrozenKeyIndex::kAbsent) {
      kept_keys_.push_back(keys[i]);
      kept_slots_.push_back(slots_[i]);
      kept_at_.push_back(i);
    } else {
      other_keys_.push_back(keys[i]);
      other_at_.push_back(i);
    }
  }
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(dim_);
  kept_rows_.resize(kept_keys_.size());
  IAK_RETURN_IF_ERROR(
      ResolveSlots(kept_keys_.data(), kept_slots_.data(), kept_keys_.size(), kept_rows_.data()));
  for (size_t j = 0; j < kept_at_.size(); ++j) {
    std::memcpy(rows_out + kept_at_[j] * dim_, kept_rows_[j], row_bytes);
  }
  if (other_keys_.empty()) return Status::Ok();
  other_rows_.resize(other_keys_.size() * static_cast<size_t>(dim_));
  IAK_RETURN_IF_ERROR(
      source_->Fetch(other_keys_.data(), other_keys_.size(), other_rows_.data()));
  for (size_t j = 0; j < other_at_.size(); ++j) {
    std::memcpy(rows_out + other_at_[j] * dim_, other_rows_.data() + j * dim_, row_bytes);
  }
  return Status::Ok();
}

}  // namespace iak::worker
