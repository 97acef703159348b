#include "data/batcher.h"

#include <algorithm>
#include <string>
#include <utility>

#include <glog/logging.h>

#include "common/keys.h"

namespace iak::data {
namespace {

// SplitMix64 stream: tiny, fast, and identical on every platform.
class SplitMixRng {
 public:
  explicit SplitMixRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix64(state_++); }

  // Uniform in [0, bound), without modulo bias (rejects the low remainder).
  uint64_t Below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (true) {
      const uint64_t r = Next();
      if (r >= threshold) return r % bound;
    }
  }

 private:
  uint64_t state_;
};

}  // namespace

SampleIds EpochOrder(const SampleIds& ids, uint64_t seed, int64_t epoch) {
  SampleIds order = ids;
  SplitMixRng rng(Mix64(seed) ^ Mix64(static_cast<uint64_t>(epoch) + 0x51ed2701ULL));
  // Fisher-Yates.
  for (size_t i = order.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.Below(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

Batcher::Batcher(SampleIds ids, const BatcherOptions& options)
    : ids_(std::move(ids)), options_(options) {
  CHECK_GT(options_.batch_size, 0u) << "BatcherOptions.batch_size must be positive";
  LoadEpochOrder();
}

void Batcher::LoadEpochOrder() {
  order_ = options_.shuffle ? EpochOrder(ids_, options_.seed, cursor_.epoch) : ids_;
}

bool Batcher::Next(SampleIds* batch) {
  batch->clear();
  if (cursor_.position >= order_.size()) {
    ++cursor_.epoch;
    cursor_.position = 0;
    LoadEpochOrder();
    return false;
  }
  const size_t end = std::min(order_.size(), cursor_.position + options_.batch_size);
  batch->assign(order_.begin() + static_cast<std::ptrdiff_t>(cursor_.position),
                order_.begin() + static_cast<std::ptrdiff_t>(end));
  cursor_.position = end;
  return true;
}

Status Batcher::Seek(const BatchCursor& cursor) {
  if (cursor.epoch < 0) {
    return InvalidArgumentError("batch cursor epoch " + std::to_string(cursor.epoch) +
                                " is negative");
  }
  if (cursor.position > ids_.size()) {
    return InvalidArgumentError("batch cursor position " + std::to_string(cursor.position) +
                                " is past the " + std::to_string(ids_.size()) +
                                " ids of this batcher (checkpoint from another data set or "
                                "shard?)");
  }
  const bool new_epoch = cursor.epoch != cursor_.epoch;
  cursor_ = cursor;
  if (new_epoch) LoadEpochOrder();
  return Status::Ok();
}

size_t Batcher::batches_per_epoch() const {
  return (ids_.size() + options_.batch_size - 1) / options_.batch_size;
}

}  // namespace iak::data
