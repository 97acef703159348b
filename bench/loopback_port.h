// A free TCP port on loopback for a benchmark's servers.
#ifndef IAK_BENCH_LOOPBACK_PORT_H_
#define IAK_BENCH_LOOPBACK_PORT_H_

#include <glog/logging.h>

#include "net/free_port.h"

namespace iak::bench {

// A benchmark cannot go on without one: CHECK-fails when none is free.
inline int FreePortOrDie() {
  StatusOr<int> port = net::PickFreeLoopbackPort();
  CHECK(port.ok()) << port.status();
  return *port;
}

}  // namespace iak::bench

#endif  // IAK_BENCH_LOOPBACK_PORT_H_
