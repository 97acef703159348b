// Appending the samples of one Dataset to another with the same fields (the
// merge step of parallel readers and of multi-shard loads).
//
// Thread-safety: touches only its arguments.
#ifndef IAK_DATA_DATASET_APPEND_H_
#define IAK_DATA_DATASET_APPEND_H_

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace iak::data {

// Appends every sample of `src` to `dst`: keys, offsets (rebased), labels,
// timestamps, and domains mapped through `domain_map` (src id -> dst id;
// empty = ids unchanged). Fields and domain_names of `dst` are left alone.
// Precondition (CHECKed): same number of fields, and both or neither have a
// conversion label unless one of them is empty.
void AppendSamples(const Dataset& src, const std::vector<int32_t>& domain_map, Dataset* dst);

// Appends the samples `ids` of `src` to `dst`, in that order, domain ids
// unchanged (a split or batch of a dataset as a dataset of its own).
// Preconditions as above; every id < src.size().
void AppendSamples(const Dataset& src, const SampleIds& ids, Dataset* dst);

// Appends samples ids[0..n) of `src`, in that order, to `dst` (a gather: a
// batch's samples, or a set rewritten in another order). Domains unchanged.
// Precondition (CHECKed): same number of fields, ids < src.size(), and dst
// empty or with a conversion label exactly when src has one.
void AppendSampleIds(const Dataset& src, const uint64_t* ids, size_t n, Dataset* dst);

// Appends samples [begin, end) of `src` to `dst` (a slice: copied as runs of
// keys and offsets, not sample by sample). Domains unchanged.
// Preconditions as for AppendSampleIds; begin <= end <= src.size().
void AppendSampleRange(const Dataset& src, size_t begin, size_t end, Dataset* dst);

}  // namespace iak::data

#endif  // IAK_DATA_DATASET_APPEND_H_
