#include "worker/key_counts.h"

#include <algorithm>
#include <numeric>

namespace iak::worker {
namespace {

// Samples read at a time from a streamed unit's ranges.
constexpr uint64_t kStreamChunk = 65536;

}  // namespace

void KeyCounts::Add(const data::Dataset& data, const std::vector<uint32_t>& ids,
                    const std::vector<int>& fields) {
  std::vector<int> all;
  if (fields.empty()) {
    all.resize(static_cast<size_t>(data.num_fields()));
    std::iota(all.begin(), all.end(), 0);
  }
  const std::vector<int>& counted = fields.empty() ? all : fields;
  for (uint32_t id : ids) {
    for (int f : counted) {
      size_t count = 0;
      const uint64_t* keys = data.FieldKeys(id, f, &count);
      for (size_t i = 0; i < count; ++i) {
        auto [it, inserted] = uses_.try_emplace(keys[i]);
        if (inserted) it->second.field = f;
        ++it->second.count;
      }
    }
  }
}

Status CountUnitKeys(const data::Dataset& data, data::ShardSampleReader* stream,
                     const PlannedAdapter& unit, const std::vector<int>& fields,
                     KeyCounts* counts) {
  if (stream == nullptr) {
    counts->Add(data, unit.train_ids, fields);
    return Status::Ok();
  }
  std::vector<uint32_t> ids;
  for (const data::IdRange& range : unit.train_ranges) {
    for (uint64_t begin = range.begin; begin < range.end; begin += kStreamChunk) {
      data::Dataset chunk = stream->empty();
      IAK_RETURN_IF_ERROR(stream->GatherRange({begin, std::min(range.end, begin + kStreamChunk)},
                                              &chunk));
      ids.resize(chunk.size());
      std::iota(ids.begin(), ids.end(), 0u);
      counts->Add(chunk, ids, fields);
    }
  }
  return Status::Ok();
}

}  // namespace iak::worker
