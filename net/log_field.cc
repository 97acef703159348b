#include "net/log_field.h"

#include <cstdio>

namespace iak::net {

std::string EscapeForLog(std::string_view bytes, size_t max_bytes) {
  const size_t n = bytes.size() < max_bytes ? bytes.size() : max_bytes;
  std::string out;
  out.reserve(n + 16);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (n < bytes.size()) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

LogRateLimiter::LogRateLimiter(LogRateLimitOptions options, const Clock* clock)
    : options_(options), clock_(clock), window_start_(clock->Now()) {}

bool LogRateLimiter::Allow(uint64_t* suppressed) {
  std::lock_guard<std::mutex> lock(mu_);
  const TimePoint now = clock_->Now();
  if (now - window_start_ >= options_.window) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= options_.lines_per_window) {
    ++held_back_;
    ++held_back_total_;
    return false;
  }
  ++used_;
  if (suppressed != nullptr) *suppressed = held_back_;
  held_back_ = 0;
  return true;
}

uint64_t LogRateLimiter::suppressed_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_back_total_;
}

std::string SuppressedNote(uint64_t suppressed) {
  if (suppressed == 0) return "";
  return " (" + std::to_string(suppressed) + " similar lines suppressed)";
}

}  // namespace iak::net
