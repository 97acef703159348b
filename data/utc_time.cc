#include "data/utc_time.h"

namespace iak::data {
namespace {

// Division rounding toward negative infinity, so times before 1970 land in
// the right day and hour.
int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

UtcFields ToUtc(int64_t seconds) {
  constexpr int64_t kSecondsPerDay = 86400;
  const int64_t days = FloorDiv(seconds, kSecondsPerDay);
  const int64_t second_of_day = seconds - days * kSecondsPerDay;

  UtcFields out;
  out.hour = static_cast<int>(second_of_day / 3600);
  // 1970-01-01 was a Thursday (4).
  const int64_t weekday = (days + 4) % 7;
  out.weekday = static_cast<int>(weekday < 0 ? weekday + 7 : weekday);

  // Howard Hinnant's civil_from_days: eras of 400 years starting on March 1
  // make leap days fall at the end of each year.
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;                                  // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);           // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                // [0, 11]
  out.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  out.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  out.year = yoe + era * 400 + (out.month <= 2 ? 1 : 0);
  return out;
}

int64_t FromUtc(int64_t year, int month, int day, int hour) {
  // Howard Hinnant's days_from_civil.
  const int64_t y = year - (month <= 2 ? 1 : 0);
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;                                           // [0, 399]
  const int64_t mp = month > 2 ? month - 3 : month + 9;                        // [0, 11]
  const int64_t doy = (153 * mp + 2) / 5 + day - 1;                            // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                   // [0, 146096]
  const int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + static_cast<int64_t>(hour) * 3600;
}

}  // namespace iak::data
