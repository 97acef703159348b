#include "worker/pulled_rows.h"

#include <cstring>

namespace iak::worker {

void PulledRows::Reserve(size_t n) {
  size_t capacity = 16;
  int bits = 4;
  while (capacity < 2 * n) {
    capacity *= 2;
    ++bits;
  }
  if (table_.size() >= capacity) return;
  table_.assign(capacity, Slot{0, 0, 0});
  mask_ = capacity - 1;
  shift_ = 64 - bits;
  generation_ = 0;
}

void PulledRows::CollectKeys(const data::Dataset& data, const uint32_t* sample_ids, int batch) {
  keys_.clear();
  occurrence_rows_.clear();
  const int num_fields = data.num_fields();
  size_t occurrences = 0;
  for (int i = 0; i < batch; ++i) {
    const size_t first = static_cast<size_t>(sample_ids[i]) * num_fields;
    occurrences += data.offsets[first + num_fields] - data.offsets[first];
  }
  Reserve(occurrences);
  if (++generation_ == 0) {  // wrapped: really empty the table once
    for (Slot& slot : table_) slot.generation = 0;
    generation_ = 1;
  }
  for (int i = 0; i < batch; ++i) {
    const size_t first = static_cast<size_t>(sample_ids[i]) * num_fields;
    const uint64_t* keys = data.keys.data() + data.offsets[first];
    const size_t count = data.offsets[first + num_fields] - data.offsets[first];
    for (size_t k = 0; k < count; ++k) {
      const uint64_t key = keys[k];
      for (size_t s = Home(key);; s = (s + 1) & mask_) {
        Slot& slot = table_[s];
        if (slot.generation != generation_) {
          slot = Slot{key, generation_, static_cast<uint32_t>(keys_.size())};
          occurrence_rows_.push_back(slot.row);
          keys_.push_back(key);
          break;
        }
        if (slot.key == key) {
          occurrence_rows_.push_back(slot.row);
          break;
        }
      }
    }
  }
  rows_.resize(keys_.size() * static_cast<size_t>(dim_));
}

const float* PulledRows::Find(uint64_t key) const {
  if (table_.empty()) return nullptr;
  for (size_t s = Home(key);; s = (s + 1) & mask_) {
    const Slot& slot = table_[s];
    if (slot.generation != generation_) return nullptr;
    if (slot.key == key) return rows_.data() + static_cast<size_t>(slot.row) * dim_;
  }
}

void PulledRows::Pool(const data::Dataset& data, const uint32_t* sample_ids, int batch,
                      float* x) const {
  const int fields = data.num_fields();
  const size_t width = static_cast<size_t>(fields) * dim_;
  const uint32_t* occurrence = occurrence_rows_.data();
  for (int r = 0; r < batch; ++r) {
    const size_t first = static_cast<size_t>(sample_ids[r]) * fields;
    model::PoolSampleRows(
        data, sample_ids[r], dim_,
        [&](size_t k) { return rows_.data() + static_cast<size_t>(occurrence[k]) * dim_; },
        x + r * width);
    occurrence += data.offsets[first + fields] - data.offsets[first];
  }
}

}  // namespace iak::worker
