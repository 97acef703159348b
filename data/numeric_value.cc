#include "data/numeric_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace iak::data {

bool ParseNumber(std::string_view text, double* value) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end && std::isfinite(*value);
}

bool ParseLabel(std::string_view text, float* label) {
  if (text.size() == 1) {  // the common case, without from_chars
    if (text[0] == '0') { *label = 0.0f; return true; }
    if (text[0] == '1') { *label = 1.0f; return true; }
    return false;
  }
  double v;
  if (!ParseNumber(text, &v)) return false;
  if (v == 1.0) { *label = 1.0f; return true; }
  if (v == 0.0 || v == -1.0) { *label = 0.0f; return true; }
  return false;
}

uint64_t NumericBucket(proto::NumericTransform transform, const std::vector<double>& boundaries,
                       double value) {
  int64_t bucket = 0;
  switch (transform) {
    case proto::NUMERIC_LOG:
      if (value <= 2.0) {
        // Clamped as below: a huge negative value converts defined.
        bucket = static_cast<int64_t>(std::floor(std::max(value, -9.0e18)));
      } else {
        const double l = std::log(value);
        bucket = 1000 + static_cast<int64_t>(std::floor(l * l));
      }
      break;
    case proto::NUMERIC_BUCKETIZE:
      bucket = std::upper_bound(boundaries.begin(), boundaries.end(), value) - boundaries.begin();
      break;
    default:  // NUMERIC_INTEGER (CompileSchema refuses the rest)
      // Clamped so that the conversion is defined for huge values.
      bucket = static_cast<int64_t>(std::floor(std::clamp(value, -9.0e18, 9.0e18)));
      break;
  }
  return static_cast<uint64_t>(bucket);
}

}  // namespace iak::data
