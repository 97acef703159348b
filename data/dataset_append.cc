#include "data/dataset_append.h"

#include <glog/logging.h>

namespace iak::data {

void AppendSamples(const Dataset& src, const std::vector<int32_t>& domain_map, Dataset* dst) {
  CHECK_EQ(src.fields.size(), dst->fields.size());
  if (src.size() == 0) return;
  CHECK(dst->size() == 0 || src.has_conversion() == dst->has_conversion())
      << "appending samples with and without a conversion label";
  const uint64_t base = dst->keys.size();
  dst->keys.insert(dst->keys.end(), src.keys.begin(), src.keys.end());
  dst->offsets.reserve(dst->offsets.size() + src.offsets.size() - 1);
  for (size_t i = 1; i < src.offsets.size(); ++i) dst->offsets.push_back(base + src.offsets[i]);
  dst->click.insert(dst->click.end(), src.click.begin(), src.click.end());
  dst->conversion.insert(dst->conversion.end(), src.conversion.begin(), src.conversion.end());
  dst->timestamp.insert(dst->timestamp.end(), src.timestamp.begin(), src.timestamp.end());
  if (domain_map.empty()) {
    dst->domain.insert(dst->domain.end(), src.domain.begin(), src.domain.end());
  } else {
    dst->domain.reserve(dst->domain.size() + src.domain.size());
    for (int32_t d : src.domain) dst->domain.push_back(domain_map[static_cast<size_t>(d)]);
  }
}

namespace {

// Appends sample s of `src` to `dst` (both checked by the callers).
void AppendSample(const Dataset& src, uint64_t s, Dataset* dst) {
  const size_t num_fields = src.fields.size();
  CHECK_LT(s, src.size());
  for (size_t f = 0; f < num_fields; ++f) {
    const uint64_t* begin = src.keys.data() + src.offsets[s * num_fields + f];
    const uint64_t* end = src.keys.data() + src.offsets[s * num_fields + f + 1];
    dst->keys.insert(dst->keys.end(), begin, end);
    dst->offsets.push_back(dst->keys.size());
  }
  dst->click.push_back(src.click[s]);
  if (src.has_conversion()) dst->conversion.push_back(src.conversion[s]);
  dst->domain.push_back(src.domain[s]);
  dst->timestamp.push_back(src.timestamp[s]);
}

void CheckAppendable(const Dataset& src, const Dataset& dst) {
  CHECK_EQ(src.fields.size(), dst.fields.size());
  CHECK(dst.size() == 0 || src.has_conversion() == dst.has_conversion())
      << "appending samples with and without a conversion label";
}

}  // namespace

void AppendSamples(const Dataset& src, const SampleIds& ids, Dataset* dst) {
  if (ids.empty()) return;
  CheckAppendable(src, *dst);
  for (uint32_t s : ids) AppendSample(src, s, dst);
}

void AppendSampleIds(const Dataset& src, const uint64_t* ids, size_t n, Dataset* dst) {
  CheckAppendable(src, *dst);
  for (size_t i = 0; i < n; ++i) AppendSample(src, ids[i], dst);
}

void AppendSampleRange(const Dataset& src, size_t begin, size_t end, Dataset* dst) {
  CHECK_LE(begin, end);
  CHECK_LE(end, src.size());
  if (begin == end) return;
  CheckAppendable(src, *dst);
  const size_t num_fields = src.fields.size();
  const uint64_t key_begin = src.offsets[begin * num_fields];
  const uint64_t key_end = src.offsets[end * num_fields];
  const uint64_t base = dst->keys.size();
  dst->keys.insert(dst->keys.end(), src.keys.begin() + static_cast<std::ptrdiff_t>(key_begin),
                   src.keys.begin() + static_cast<std::ptrdiff_t>(key_end));
  dst->offsets.reserve(dst->offsets.size() + (end - begin) * num_fields);
  for (size_t i = begin * num_fields + 1; i <= end * num_fields; ++i) {
    dst->offsets.push_back(base + src.offsets[i] - key_begin);
  }
  const auto b = static_cast<std::ptrdiff_t>(begin), e = static_cast<std::ptrdiff_t>(end);
  dst->click.insert(dst->click.end(), src.click.begin() + b, src.click.begin() + e);
  if (src.has_conversion()) {
    dst->conversion.insert(dst->conversion.end(), src.conversion.begin() + b,
                           src.conversion.begin() + e);
  }
  dst->domain.insert(dst->domain.end(), src.domain.begin() + b, src.domain.begin() + e);
  dst->timestamp.insert(dst->timestamp.end(), src.timestamp.begin() + b,
                        src.timestamp.begin() + e);
}

}  // namespace iak::data
