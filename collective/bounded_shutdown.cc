#include "collective/bounded_shutdown.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <glog/logging.h>

namespace iak::collective {

void ExitNow(int code, const std::string& why) {
  LOG(ERROR) << why << "; exiting now (code " << code << ")";
  google::FlushLogFiles(google::GLOG_INFO);
  std::fflush(nullptr);
  ::_exit(code);
}

void RunWithDeadline(const std::string& what, const std::function<void()>& step, Duration limit,
                     int exit_code, std::function<void()> on_timeout) {
  if (!on_timeout) {
    on_timeout = [what, limit, exit_code] {
      ExitNow(exit_code, what + " did not return within " + std::to_string(limit.count()) +
                             " ms (a peer is stopped, wedged or gone)");
    };
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, limit, [&] { return done; })) return;
    lock.unlock();
    on_timeout();
  });
  step();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
}

}  // namespace iak::collective
