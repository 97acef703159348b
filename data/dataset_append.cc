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

void AppendSamples(const Dataset& src, const SampleIds& ids, Dataset* dst) {
  CHECK_EQ(src.fields.size(), dst->fields.size());
  if (ids.empty()) return;
  CHECK(dst->size() == 0 || src.has_conversion() == dst->has_conversion())
      << "appending samples with and without a conversion label";
  const size_t nf = src.fields.size();
  for (uint32_t s : ids) {
    CHECK_LT(s, src.size());
    for (size_t f = 0; f < nf; ++f) {
      size_t count = 0;
      const uint64_t* keys = src.FieldKeys(s, static_cast<int>(f), &count);
      dst->keys.insert(dst->keys.end(), keys, keys + count);
      dst->offsets.push_back(dst->keys.size());
    }
    dst->click.push_back(src.click[s]);
    if (src.has_conversion()) dst->conversion.push_back(src.conversion[s]);
    dst->domain.push_back(src.domain[s]);
    dst->timestamp.push_back(src.timestamp[s]);
  }
}

}  // namespace iak::data
