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

// Seconds since the epoch of (year, month 1..12, day 1..31, hour 0..23) UTC;
// the inverse of ToUtc for valid dates. Does not validate its arguments.
int64_t FromUtc(int64_t year, int month, int day, int hour);

}  // namespace iak::data

#endif  // IAK_DATA_UTC_TIME_H_
