#include "data/global_cursor.h"

#include <algorithm>
#include <utility>

#include <glog/logging.h>

#include "common/keys.h"

namespace iak::data {

GlobalCursor::GlobalCursor(SampleIds ids, uint64_t seed, IdRanges ranges)
    : ids_(std::move(ids)), seed_(seed) {
  if (ranges.empty()) {
    num_ids_ = ids_.size();
    return;
  }
  CHECK(ids_.empty()) << "GlobalCursor: give ids or ranges, not both";
  for (const IdRange& r : ranges) {
    CHECK_LE(r.end, uint64_t{1} << 32) << "sample ids of a streamed job must be below 2^32";
    if (r.size() == 0) continue;
    starts_.push_back(num_ids_);
    ranges_.push_back(r);
    num_ids_ += r.size();
  }
  if (num_ids_ <= kExactShuffleIds) {  // list them: the order of an in-memory job
    for (const IdRange& r : ranges_) {
      for (uint64_t id = r.begin; id < r.end; ++id) ids_.push_back(static_cast<uint32_t>(id));
    }
    ranges_.clear();
    starts_.clear();
  }
}

uint32_t GlobalCursor::IdAt(size_t index) const {
  const size_t r = static_cast<size_t>(
      std::upper_bound(starts_.begin(), starts_.end(), index) - starts_.begin() - 1);
  return static_cast<uint32_t>(ranges_[r].begin + (index - starts_[r]));
}

uint32_t GlobalCursor::StreamedId(size_t position) {
  // The visited block holding `position`: the last whose start is <= it.
  const size_t k = static_cast<size_t>(
      std::upper_bound(block_start_.begin(), block_start_.end(), position) -
      block_start_.begin() - 1);
  const uint32_t block = block_order_[k];
  if (inner_block_ != static_cast<int64_t>(block)) {
    const size_t first = static_cast<size_t>(block) * kStreamBlockIds;
    const size_t size = std::min(kStreamBlockIds, num_ids_ - first);
    SampleIds within(size);
    for (size_t i = 0; i < size; ++i) within[i] = static_cast<uint32_t>(i);
    inner_ = EpochOrder(within, seed_ ^ Mix64(0x9e3779b9ULL + block), cursor_.epoch);
    inner_block_ = block;
  }
  const size_t index =
      static_cast<size_t>(block) * kStreamBlockIds + inner_[position - block_start_[k]];
  return IdAt(index);
}

Status GlobalCursor::Seek(const BatchCursor& cursor) {
  if (cursor.epoch < 0 || cursor.position > num_ids_) {
    return InvalidArgumentError("global data cursor (epoch " + std::to_string(cursor.epoch) +
                                ", position " + std::to_string(cursor.position) +
                                ") does not fit a domain of " + std::to_string(num_ids_) +
                                " training ids; was the position written for other data?");
  }
  cursor_ = cursor;
  return Status::Ok();
}

void GlobalCursor::LoadOrder() {
  if (order_epoch_ == cursor_.epoch) return;
  order_epoch_ = cursor_.epoch;
  if (ranges_.empty()) {
    order_ = EpochOrder(ids_, seed_, cursor_.epoch);
    return;
  }
  const size_t blocks = (num_ids_ + kStreamBlockIds - 1) / kStreamBlockIds;
  SampleIds all(blocks);
  for (size_t b = 0; b < blocks; ++b) all[b] = static_cast<uint32_t>(b);
  block_order_ = EpochOrder(all, seed_, cursor_.epoch);
  block_start_.resize(blocks);
  size_t at = 0;
  for (size_t k = 0; k < blocks; ++k) {
    block_start_[k] = at;
    const size_t first = static_cast<size_t>(block_order_[k]) * kStreamBlockIds;
    at += std::min(kStreamBlockIds, num_ids_ - first);
  }
  inner_block_ = -1;
}

void GlobalCursor::Slice(int rank, int size, size_t batch, SampleIds* out) {
  CHECK_GE(size, 1);
  CHECK_GE(rank, 0);
  CHECK_LT(rank, size);
  CHECK_GE(batch, 1u);
  out->clear();
  LoadOrder();
  const size_t n = num_ids_;
  const size_t begin = std::min(n, cursor_.position + static_cast<size_t>(rank) * batch);
  const size_t end = std::min(n, begin + batch);
  if (ranges_.empty()) {
    out->assign(order_.begin() + static_cast<std::ptrdiff_t>(begin),
                order_.begin() + static_cast<std::ptrdiff_t>(end));
    return;
  }
  for (size_t p = begin; p < end; ++p) out->push_back(StreamedId(p));
}

void GlobalCursor::Advance(int size, size_t batch) {
  CHECK_GE(size, 1);
  cursor_.position += static_cast<size_t>(size) * batch;
  if (cursor_.position >= num_ids_) {
    cursor_.epoch += 1;
    cursor_.position = 0;
  }
}

}  // namespace iak::data
