// Shutdown steps that may never return (MPI_Finalize waits for every rank; a
// SIGSTOPped or wedged peer never arrives) run under a watchdog: past the
// limit the process logs why and leaves with _exit, because nothing can
// cancel such a call. Under mpirun a rank that exits without finalising
// makes mpirun end the whole job, stopped ranks included, so the launcher
// and the supervisor see the failure instead of hanging.
//
// Thread-safety: RunWithDeadline may be called from any thread; the
// watchdog calls `on_timeout` on its own thread while `step` is still
// running on the caller's.
#ifndef IAK_COLLECTIVE_BOUNDED_SHUTDOWN_H_
#define IAK_COLLECTIVE_BOUNDED_SHUTDOWN_H_

#include <functional>
#include <string>

#include "common/clock.h"

namespace iak::collective {

// Runs `step` on the calling thread. If it has not returned within `limit`,
// `on_timeout` runs on a watchdog thread (once); the default on_timeout is
// ExitNow(exit_code, what + " did not return within <limit>"). Returns when
// `step` returns (never, when the default on_timeout fires).
void RunWithDeadline(const std::string& what, const std::function<void()>& step, Duration limit,
                     int exit_code = 1, std::function<void()> on_timeout = nullptr);

// Logs `why` at ERROR, flushes the logs and stdio, and _exit(code)s without
// running destructors or atexit handlers (which may wait on the same peer).
[[noreturn]] void ExitNow(int code, const std::string& why);

}  // namespace iak::collective

#endif  // IAK_COLLECTIVE_BOUNDED_SHUTDOWN_H_
