#include "data/global_cursor.h"

#include <algorithm>
#include <utility>

#include <glog/logging.h>

namespace iak::data {

GlobalCursor::GlobalCursor(SampleIds ids, uint64_t seed) : ids_(std::move(ids)), seed_(seed) {}

Status GlobalCursor::Seek(const BatchCursor& cursor) {
  if (cursor.epoch < 0 || cursor.position > ids_.size()) {
    return InvalidArgumentError("global data cursor (epoch " + std::to_string(cursor.epoch) +
                                ", position " + std::to_string(cursor.position) +
                                ") does not fit a domain of " + std::to_string(ids_.size()) +
                                " training ids; was the position written for other data?");
  }
  cursor_ = cursor;
  return Status::Ok();
}

void GlobalCursor::LoadOrder() {
  if (order_epoch_ == cursor_.epoch) return;
  order_ = EpochOrder(ids_, seed_, cursor_.epoch);
  order_epoch_ = cursor_.epoch;
}

void GlobalCursor::Slice(int rank, int size, size_t batch, SampleIds* out) {
  CHECK_GE(size, 1);
  CHECK_GE(rank, 0);
  CHECK_LT(rank, size);
  CHECK_GE(batch, 1u);
  out->clear();
  LoadOrder();
  const size_t n = order_.size();
  const size_t begin = std::min(n, cursor_.position + static_cast<size_t>(rank) * batch);
  const size_t end = std::min(n, begin + batch);
  out->assign(order_.begin() + static_cast<std::ptrdiff_t>(begin),
              order_.begin() + static_cast<std::ptrdiff_t>(end));
}

void GlobalCursor::Advance(int size, size_t batch) {
  CHECK_GE(size, 1);
  cursor_.position += static_cast<size_t>(size) * batch;
  if (cursor_.position >= ids_.size()) {
    cursor_.epoch += 1;
    cursor_.position = 0;
  }
}

}  // namespace iak::data
