// Dataset: samples in columnar (CSR) form, the unit every reader produces and
// every trainer consumes.
//
// Sample s has, for each field f, the keys
//   keys[offsets[s * num_fields + f] .. offsets[s * num_fields + f + 1])
// (one key for a single-valued field, zero or more for a multi-valued one).
// Keys are FeatureKey(field, value) from common/keys.h.
//
// Thread-safety: a const Dataset may be read from any number of threads.
#ifndef IAK_DATA_DATASET_H_
#define IAK_DATA_DATASET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace iak::data {

enum class Pooling { kSum = 0, kMean = 1 };

struct FieldInfo {
  std::string name;
  bool multi_valued = false;
  Pooling pooling = Pooling::kSum;
};

struct Dataset {
  std::vector<FieldInfo> fields;
  std::vector<uint64_t> keys;
  std::vector<uint64_t> offsets{0};  // size num_samples * num_fields + 1
  std::vector<float> click;          // label of task 1 (0 or 1)
  std::vector<float> conversion;     // label of task 2; empty when the data has none
  std::vector<int32_t> domain;       // index into domain_names
  std::vector<int64_t> timestamp;    // seconds since the epoch; orders the split
  std::vector<std::string> domain_names;

  int num_fields() const { return static_cast<int>(fields.size()); }
  size_t size() const { return click.size(); }
  bool has_conversion() const { return !conversion.empty(); }

  // Pointer to the first key of (sample, field) and the number of keys.
  const uint64_t* FieldKeys(size_t sample, int field, size_t* count) const {
    const size_t i = sample * fields.size() + static_cast<size_t>(field);
    *count = offsets[i + 1] - offsets[i];
    return keys.data() + offsets[i];
  }
};

// A list of sample indices into a Dataset (a split, a shard, a batch).
using SampleIds = std::vector<uint32_t>;

}  // namespace iak::data

#endif  // IAK_DATA_DATASET_H_
