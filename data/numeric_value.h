// Parsing the numbers and labels of text data, and bucketising numeric
// columns into categorical keys (the model has only embeddings, so a number
// becomes the key of its bucket; docs/data.md gives the rules).
//
// Thread-safety: pure functions.
#ifndef IAK_DATA_NUMERIC_VALUE_H_
#define IAK_DATA_NUMERIC_VALUE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "proto/data_schema.pb.h"

namespace iak::data {

// The bucket value of an empty (missing) numeric cell: one row per field for
// "missing", distinct from every real bucket.
inline constexpr uint64_t kMissingNumericBucket = 0x8000000000000000ULL;

// Whole `text` as a finite number ("3", "-1.5", "2e3"; a leading '+' is
// accepted). False on anything else, including the empty string.
bool ParseNumber(std::string_view text, double* value);

// Whole `text` as a 0/1 label: 0, 1 (as integers or "0.0"/"1.0"), and for
// libsvm-style files -1 and +1 (-1 means 0). False otherwise.
bool ParseLabel(std::string_view text, float* label);

// The bucket value (fed to FeatureKey) of `value` under `transform`:
//   NUMERIC_LOG:       x <= 2: floor(x) (as a signed integer);
//                      x > 2:  1000 + floor(ln(x)^2)   (Criteo winners' rule)
//   NUMERIC_BUCKETIZE: i such that boundaries[i-1] <= x < boundaries[i]
//                      (0 below the first, size() at or above the last)
//   NUMERIC_INTEGER:   floor(x)
// floor(x) is clamped to +-9e18 (a huge value still gets a defined bucket).
// Signed results are stored two's-complement in the uint64.
uint64_t NumericBucket(proto::NumericTransform transform, const std::vector<double>& boundaries,
                       double value);

}  // namespace iak::data

#endif  // IAK_DATA_NUMERIC_VALUE_H_
