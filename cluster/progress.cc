#include "cluster/progress.h"

#include <cstdio>
#include <cstdlib>
#include <numeric>

namespace iak::cluster {

JobProgress::JobProgress(std::vector<int64_t> phase_steps)
    : phase_steps_(std::move(phase_steps)),
      total_steps_(std::accumulate(phase_steps_.begin(), phase_steps_.end(), int64_t{0})) {}

bool JobProgress::Observe(const std::string& line, std::chrono::steady_clock::time_point now) {
  // "progress: phase compression: 600 steps, ..." starts a phase;
  // "progress: compression step 50/600  loss ..." reports within it.
  const size_t at = line.find("progress: ");
  if (at == std::string::npos) return false;
  const std::string text = line.substr(at + 10);
  if (text.rfind("phase ", 0) == 0) {
    ++phase_index_;
    const size_t colon = text.find(':');
    phase_name_ = text.substr(6, colon == std::string::npos ? std::string::npos : colon - 6);
    return true;
  }
  const size_t step = text.find(" step ");
  const size_t slash = text.find('/', step == std::string::npos ? 0 : step);
  if (step == std::string::npos || slash == std::string::npos) return false;
  const int64_t in_phase = std::atoll(text.c_str() + step + 6);
  int64_t before = 0;
  for (int p = 0; p < phase_index_ && p < static_cast<int>(phase_steps_.size()); ++p) {
    before += phase_steps_[p];
  }
  done_steps_ = before + in_phase;
  if (!started_) {
    started_ = true;
    first_steps_ = done_steps_;
    first_time_ = now;
  } else {
    const double seconds = std::chrono::duration<double>(now - first_time_).count();
    if (seconds > 0) rate_ = (done_steps_ - first_steps_) / seconds;
  }
  return true;
}

std::string JobProgress::Render(int width) const {
  const double fraction =
      total_steps_ > 0 ? static_cast<double>(done_steps_) / static_cast<double>(total_steps_) : 0;
  const int filled = static_cast<int>(fraction * width + 0.5);
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  char tail[160];
  std::string eta = "--";
  if (rate_ > 0) {
    const int64_t left = static_cast<int64_t>((total_steps_ - done_steps_) / rate_ + 0.5);
    eta = left >= 60 ? std::to_string(left / 60) + "m" + std::to_string(left % 60) + "s"
                     : std::to_string(left) + "s";
  }
  std::snprintf(tail, sizeof(tail), " %3d%%  %lld/%lld steps  phase %d/%zu %s  %.1f steps/s  ETA %s",
                static_cast<int>(fraction * 100 + 0.5), static_cast<long long>(done_steps_),
                static_cast<long long>(total_steps_), phase_index_ + 1, phase_steps_.size(),
                phase_name_.c_str(), rate_, eta.c_str());
  return bar + tail;
}

}  // namespace iak::cluster
