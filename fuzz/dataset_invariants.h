// What every decoder of samples must hand back, whatever its input: a
// Dataset whose arrays agree (one offset per (sample, field) plus one,
// rising, ending at the key count), whose domains are named and whose labels
// are 0 or 1. A decoder that returns OK with anything else lets a corrupt
// input through to the trainer, which indexes by these arrays: a finding.
#ifndef IAK_FUZZ_DATASET_INVARIANTS_H_
#define IAK_FUZZ_DATASET_INVARIANTS_H_

#include <cstdio>
#include <cstdlib>

#include "data/dataset.h"

namespace iak::fuzz {

inline void AbortUnless(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "dataset invariant broken: %s\n", what);
  std::abort();
}

inline bool IsLabel(float v) { return v == 0.0f || v == 1.0f; }

// `num_domains`: how many domain names the ids may index.
inline void AbortUnlessConsistent(const data::Dataset& d, size_t num_domains) {
  const size_t n = d.size();
  AbortUnless(d.offsets.size() == n * d.fields.size() + 1, "one offset per (sample, field) + 1");
  AbortUnless(d.offsets.front() == 0 && d.offsets.back() == d.keys.size(),
              "offsets run from 0 to the key count");
  for (size_t i = 1; i < d.offsets.size(); ++i) {
    AbortUnless(d.offsets[i - 1] <= d.offsets[i], "offsets rise");
  }
  AbortUnless(d.domain.size() == n, "one domain per sample");
  AbortUnless(d.timestamp.size() == n, "one timestamp per sample");
  AbortUnless(d.conversion.empty() || d.conversion.size() == n, "conversions: none or one each");
  for (int32_t id : d.domain) {
    AbortUnless(id >= 0 && static_cast<size_t>(id) < num_domains, "domain ids are named");
  }
  for (float v : d.click) AbortUnless(IsLabel(v), "click labels are 0 or 1");
  for (float v : d.conversion) AbortUnless(IsLabel(v), "conversion labels are 0 or 1");
}

}  // namespace iak::fuzz

#endif  // IAK_FUZZ_DATASET_INVARIANTS_H_
