// Calendar fields of a Unix timestamp in UTC, without the C library's
// time-zone state (gmtime is not thread-safe; timegm/gmtime_r vary by
// platform and are slow in a hot loop over every rating).
//
// Thread-safety: pure functions.
#ifndef IAK_DATA_UTC_TIME_H_
#define IAK_DATA_UTC_TIME_H_

#include <cstdint>

namespace iak::data {

struct UtcFields {
  int64_t year = 1970;
  int month = 1;    // 1..12
  int day = 1;      // 1..31
  int weekday = 4;  // 0 = Sunday .. 6 = Saturday
  int hour = 0;     // 0..23
};

// Proleptic Gregorian calendar; negative timestamps (before 1970) work too.
UtcFields ToUtc(int64_t seconds_since_epoch);

}  // namespace iak::data

#endif  // IAK_DATA_UTC_TIME_H_
