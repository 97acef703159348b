// A free TCP port on 127.0.0.1, for tools and tests that must tell a child
// process which port to listen on before it starts (bind to port 0, read the
// port, release it; the child binds it next, so another process could take it
// in between — fine on a test machine, not a protocol).
#ifndef IAK_NET_FREE_PORT_H_
#define IAK_NET_FREE_PORT_H_

#include "common/status.h"

namespace iak::net {

[[nodiscard]] StatusOr<int> PickFreeLoopbackPort();

}  // namespace iak::net

#endif  // IAK_NET_FREE_PORT_H_
