// Log hygiene for text that comes from the network: peer identities, sender
// names, error strings a peer reports. Such text may hold newlines (a forged
// log line), terminal escapes or megabytes; EscapeForLog makes it one short
// printable field. LogRateLimiter bounds how many lines a flood of bad
// requests can write, and counts what it held back so the next line says so.
//
// Thread-safety: EscapeForLog is a pure function; a LogRateLimiter may be
// shared by threads.
#ifndef IAK_NET_LOG_FIELD_H_
#define IAK_NET_LOG_FIELD_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace iak::net {

// Printable ASCII (0x20..0x7e except '\\') is kept; every other byte becomes
// \xNN and a backslash \\ , so the result is one line that cannot pose as
// another field. Longer than max_bytes (of input): cut, with "...(N bytes)".
std::string EscapeForLog(std::string_view bytes, size_t max_bytes = 96);

struct LogRateLimitOptions {
  // Lines allowed per window; the rest are counted, not written. Default 20.
  int lines_per_window = 20;
  // Default 10 s.
  Duration window = Duration(10000);
};

class LogRateLimiter {
 public:
  // `clock` is not owned; tests pass a ManualClock.
  explicit LogRateLimiter(LogRateLimitOptions options = {},
                          const Clock* clock = RealClock::Get());

  // True when a line may be written now. *suppressed (may be null) gets how
  // many lines were held back since the last allowed one (to append as
  // "(N similar lines suppressed)").
  bool Allow(uint64_t* suppressed = nullptr);
  // Lines held back in total.
  uint64_t suppressed_total() const;

 private:
  const LogRateLimitOptions options_;
  const Clock* clock_;
  mutable std::mutex mu_;
  TimePoint window_start_;       // guarded by mu_
  int used_ = 0;                 // guarded by mu_
  uint64_t held_back_ = 0;       // since the last allowed line; guarded by mu_
  uint64_t held_back_total_ = 0; // guarded by mu_
};

// " (N similar lines suppressed)" or "" for N == 0.
std::string SuppressedNote(uint64_t suppressed);

}  // namespace iak::net

#endif  // IAK_NET_LOG_FIELD_H_
