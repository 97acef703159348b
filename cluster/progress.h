// Progress of a running job as the CLI shows it: parsed from the workers'
// "progress: <phase> step <i>/<n> ..." log lines, rendered as a bar with the
// rate and the time left for the whole phase plan.
//
// Thread-safety: none; the launcher's loop owns it.
#ifndef IAK_CLUSTER_PROGRESS_H_
#define IAK_CLUSTER_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace iak::cluster {

class JobProgress {
 public:
  // `phase_steps`: the steps of each phase in plan order.
  explicit JobProgress(std::vector<int64_t> phase_steps);

  // Feeds one log line; returns true when it moved the progress.
  bool Observe(const std::string& line, std::chrono::steady_clock::time_point now);

  int64_t done_steps() const { return done_steps_; }
  int64_t total_steps() const { return total_steps_; }
  // Steps per second since the first observed step (0 before two points).
  double rate() const { return rate_; }
  // "[#########.........]  45%  405/900 steps  phase 1/2 compression  120.3 steps/s  ETA 4s"
  std::string Render(int width) const;

 private:
  std::vector<int64_t> phase_steps_;
  int64_t total_steps_ = 0;
  int64_t done_steps_ = 0;
  int phase_index_ = -1;
  std::string phase_name_;
  double rate_ = 0;
  bool started_ = false;
  int64_t first_steps_ = 0;
  std::chrono::steady_clock::time_point first_time_;
};

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_PROGRESS_H_
