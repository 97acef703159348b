// PsClient: how a worker pulls frozen embedding rows from the parameter
// servers. Keys are split by ShardOfKey, one request is sent to every shard
// involved before any reply is awaited (so all shards work at once), and rows
// are scattered back in request order.
//
// A shard that times out or is unreachable is retried on a fresh connection
// up to max_attempts times in all; then Pull returns Unavailable naming the
// shard and address. Any other error (a refused request, a malformed reply)
// returns at once with the shard in its message.
//
// Thread-safety: not thread-safe; use one PsClient per worker thread.
#ifndef IAK_PS_PS_CLIENT_H_
#define IAK_PS_PS_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "net/rpc.h"
#include "net/transport.h"
#include "proto/iak.pb.h"

namespace iak::ps {

struct PsClientOptions {
  // One per shard (any order; each shard exactly once), as the scheduler's
  // barrier response lists them.
  std::vector<proto::ServerAddress> servers;
  // The snapshot the servers must hold; empty = accept any.
  std::string snapshot_id;
  // Embedding dimension (from the manifest); replies must match it.
  int dim = 0;
  // Deadline of one request to one shard. Default 10 s.
  Duration pull_timeout = Duration(10000);
  // Attempts per shard and Pull, the first included. Default 3.
  int max_attempts = 3;
  // This worker's name, sent with every request (servers' errors name it).
  std::string name = "worker";
};

// What one Pull did; overwritten by each Pull.
struct PullStats {
  uint64_t keys = 0;      // keys asked for
  uint64_t missing = 0;   // keys absent from the snapshot (given zero rows)
  uint64_t bytes = 0;     // key and row bytes sent and received
  int requests = 0;       // requests sent, retries included
  int retries = 0;
  std::chrono::microseconds elapsed{0};  // wall time of the whole Pull
};

class PsClient {
 public:
  // `transport` is not owned and must outlive the client.
  PsClient(PsClientOptions options, net::Transport* transport);
  ~PsClient();

  PsClient(const PsClient&) = delete;
  PsClient& operator=(const PsClient&) = delete;

  // Checks the options and opens one connection per shard (connecting never
  // blocks: an unreachable server shows up as the first Pull's timeout).
  // InvalidArgument: no servers, dim not positive, a shard missing or listed twice.
  [[nodiscard]] Status Connect();

  // Fills rows_out (n * dim floats, caller-owned) with the rows of keys[0..n)
  // in order; absent keys get zero rows. `stats` may be null.
  // FailedPrecondition: before Connect(), or the servers hold another snapshot.
  // Unavailable: a shard did not answer after max_attempts.
  // DataLoss: a reply of the wrong shape. Others: as the server replied.
  // On error rows_out is unspecified.
  [[nodiscard]] Status Pull(const uint64_t* keys, size_t n, float* rows_out, PullStats* stats);

  int num_shards() const { return static_cast<int>(shards_.size()); }

 private:
  struct Shard {
    proto::ServerAddress server;
    std::unique_ptr<net::RpcClient> rpc;  // null: reconnect before the next send
    // Per-Pull scratch, kept to avoid reallocating.
    std::string key_frame;
    std::vector<size_t> positions;  // index in the caller's request of each key
    uint64_t request_id = 0;
    bool in_flight = false;
    Status send_error;  // why the last send failed, when it did
  };

  std::string Describe(const Shard& shard) const;
  Status Reconnect(Shard* shard);
  Status SendPull(Shard* shard, PullStats* stats);
  // Awaits the reply of `shard`, retrying on timeouts; scatters its rows.
  Status AwaitPull(Shard* shard, float* rows_out, PullStats* stats);
  Status ScatterReply(const Shard& shard, const net::RpcReply& reply, float* rows_out,
                      PullStats* stats) const;
  // After an error: requests still in flight are abandoned by dropping their
  // connections, so stale replies never pile up.
  void AbandonInFlight();

  PsClientOptions options_;
  net::Transport* transport_;
  std::vector<Shard> shards_;  // index = shard
};

}  // namespace iak::ps

#endif  // IAK_PS_PS_CLIENT_H_
