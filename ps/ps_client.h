// PsClient: how a worker pulls frozen embedding rows from the parameter
// servers. Keys are split by ShardOfKey, one request is sent to every shard
// involved before any reply is awaited (so all shards work at once), and rows
// are scattered back in request order. Rows arrive in the snapshot's encoding
// (float32, float16 or int8 + scale; see embedding/row_codec.h) and are
// decoded here into float32.
//
// Replicas: `servers` may list several servers per shard (distinct `replica`
// numbers). Each Pull reads a shard from one replica, rotating over them so
// reads spread; a replica that times out or is unreachable is marked down for
// replica_down_for and the request is retried at once on another replica (on
// a fresh connection to the same one when it is the only one), up to
// max_attempts per shard and Pull; then Pull returns Unavailable naming the
// shard and its addresses. Any other error (a refused request, a malformed
// reply) returns at once with the shard in its message.
//
// Row cache: with cache_bytes > 0 rows are kept in a RowCache (frozen rows:
// no invalidation); keys found there are not sent. PullStats reports hits.
//
// Push (trainable servers only, docs/trainable_ps.md): sparse gradients are
// routed to shards like pull keys, sent to all shards before any reply is
// awaited, and applied by each server's per-row optimizer. Pushes are not
// retried and never fail over (a write is not idempotent), so Push needs
// exactly one server per shard and no row cache.
//
// Overlay snapshot / restore (trainable servers only): SnapshotOverlay() asks
// every shard's server to keep a copy of its trained rows and optimizer
// state, RestoreOverlay() to return to that copy; a job keeps its best
// validation point this way. Same rules as Push: all shards at once, each
// awaited until push_timeout, no retries, no failover, no row cache.
//
// Pipelined requests (off by default): with keys_per_request > 0, a shard's
// part of a Pull larger than that goes out as several requests of at most
// that many keys, all in flight at once (to the shard's replicas in rotation
// when it has several), and each reply is decoded as it arrives. The server
// then looks up one request while the rows of the one before travel and are
// decoded here (docs/benchmarks.md, W1, for when that pays).
// Failover is per request: a request that fails is retried as above; the
// others in flight on the connection that failed are sent again.
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
#include "proto/wire.pb.h"
#include "ps/row_cache.h"

namespace iak::ps {

// PsClientOptions::keys_per_request's default: no split. On the 2-core
// development VM, splitting W1's pulls into 2 or 4 requests cost more CPU
// per pull (each request is several thread wake-ups) than the overlap gained
// (docs/benchmarks.md, W1).
inline constexpr size_t kDefaultKeysPerRequest = 0;

struct PsClientOptions {
  // At least one per shard (any order), as the scheduler's barrier response
  // lists them; several servers of a shard are its replicas and must carry
  // distinct `replica` numbers.
  std::vector<proto::ServerAddress> servers;
  // The snapshot the servers must hold; empty = accept any.
  std::string snapshot_id;
  // Embedding dimension (from the manifest); replies must match it.
  int dim = 0;
  // Deadline of one request to one shard. Default 10 s.
  Duration pull_timeout = Duration(10000);
  // The most keys in one pull request; a shard's part of a Pull beyond it is
  // split into several requests in flight at once (see above). 0 = one
  // request per shard. Default kDefaultKeysPerRequest (0).
  size_t keys_per_request = kDefaultKeysPerRequest;
  // Attempts per shard and Pull, the first included. Default 3.
  int max_attempts = 3;
  // This worker's name, sent with every request (servers' errors name it).
  std::string name = "worker";
  // Worker row cache budget in bytes (rows are dim float32 + 16 bytes of
  // bookkeeping each). Default 0 = no cache.
  uint64_t cache_bytes = 0;
  // How long a replica that failed is skipped while another replica of its
  // shard is up. Default 5 s.
  Duration replica_down_for = Duration(5000);
  // Where the rotation over replicas starts (e.g. the worker's rank), so
  // workers do not all hit replica 0 first. Default 0.
  uint64_t replica_offset = 0;
  // Deadline of one push request to one shard (no retries). Default 10 s.
  Duration push_timeout = Duration(10000);
};

// What one Push did; overwritten by each Push.
struct PushStats {
  uint64_t keys = 0;      // keys sent (duplicates included)
  uint64_t applied = 0;   // distinct keys the servers updated
  uint64_t created = 0;   // of which absent from the snapshot (started from zero)
  uint64_t bytes = 0;     // key and gradient bytes sent
  int requests = 0;       // one per shard involved
  std::chrono::microseconds elapsed{0};
};

// What one SnapshotOverlay / RestoreOverlay did, summed over the shards;
// overwritten by each call.
struct OverlayStats {
  uint64_t rows = 0;            // overlay rows saved / live after the restore
  uint64_t bytes = 0;           // snapshot: bytes the saved copies hold
  uint64_t rows_discarded = 0;  // restore: rows first trained after the snapshot (dropped)
  int requests = 0;             // one per shard
  std::chrono::microseconds elapsed{0};
};

// What one Pull did; overwritten by each Pull.
struct PullStats {
  uint64_t keys = 0;      // keys asked for
  uint64_t missing = 0;   // keys absent from the snapshot (given zero rows)
  uint64_t bytes = 0;     // key and row bytes sent and received
  int requests = 0;       // requests sent, retries included
  int retries = 0;        // of which retries (on another replica when there is one)
                          // and requests sent again because their connection failed
  uint64_t cache_hits = 0;  // keys served by the row cache (not sent)
  double cache_hit_rate = 0;  // the cache's hit rate over its life (0 without a cache)
  std::chrono::microseconds elapsed{0};  // wall time of the whole Pull
};

class PsClient {
 public:
  // `transport` is not owned and must outlive the client.
  PsClient(PsClientOptions options, net::Transport* transport);
  ~PsClient();

  PsClient(const PsClient&) = delete;
  PsClient& operator=(const PsClient&) = delete;

  // Checks the options and opens one connection per server (connecting never
  // blocks: an unreachable server shows up as the first Pull's timeout).
  // InvalidArgument: no servers, dim not positive, a shard missing, a
  // (shard, replica) listed twice.
  [[nodiscard]] Status Connect();

  // Fills rows_out (n * dim floats, caller-owned) with the rows of keys[0..n)
  // in order; absent keys get zero rows. `stats` may be null.
  // FailedPrecondition: before Connect(), or the servers hold another snapshot.
  // Unavailable: a shard did not answer after max_attempts.
  // DataLoss: a reply of the wrong shape. Others: as the server replied.
  // On error rows_out is unspecified.
  [[nodiscard]] Status Pull(const uint64_t* keys, size_t n, float* rows_out, PullStats* stats);

  // Sends the gradients grads[0..n*dim) (row i for keys[i], row-major
  // float32) to the trainable servers owning keys[0..n): each shard's keys go
  // to it in one request, all shards at once, each awaited until
  // push_timeout. Each server sums duplicate keys of its request, then takes
  // one optimizer step per distinct key (Adagrad or Adam, per row; a key the
  // snapshot lacks starts from a zero row). When Push returns OK every shard
  // applied its part and a later Pull from this client sees it. `stats` may
  // be null; n == 0 is OK and sends nothing.
  // Errors (naming the shard and server): FailedPrecondition before
  // Connect(), with several replicas of a shard or a row cache configured
  // (both refused before anything is sent), from a frozen server (it refuses
  // pushes) or one holding another snapshot. InvalidArgument: a gradient
  // that is not finite (the server applies nothing of that request).
  // DeadlineExceeded / Unavailable: a server did not answer in push_timeout.
  // A Push that fails may have been applied by some shards and not others
  // (it is not retried: a second application would double the step).
  [[nodiscard]] Status Push(const uint64_t* keys, size_t n, const float* grads,
                            PushStats* stats = nullptr);

  // Every shard's trainable server replaces its saved overlay copy with a
  // copy of its live overlay (trained rows and optimizer state), named `tag`
  // (for RestoreOverlay's check and the logs; may be empty). A server that
  // was never pushed to saves an empty overlay. All shards at once, each
  // awaited until push_timeout; not retried. `stats` may be null.
  // Errors (naming the shard and server): FailedPrecondition before
  // Connect(), with several replicas of a shard or a row cache (refused
  // before anything is sent), from a frozen server, or one holding another
  // snapshot; DeadlineExceeded / Unavailable: a server did not answer. After
  // a failure some shards may hold the new copy and others the old one.
  [[nodiscard]] Status SnapshotOverlay(const std::string& tag, OverlayStats* stats = nullptr);

  // Every shard's server makes its live overlay a copy of the saved one
  // (rows and optimizer state; the saved copy is kept, so restoring twice is
  // harmless). When RestoreOverlay returns OK a later Pull from this client
  // sees the restored rows and a later Push steps from the restored state.
  // `tag`, when not empty, must equal the saved copy's. Errors: those of
  // SnapshotOverlay, and FailedPrecondition from a server with no saved copy
  // or one of another tag (that server changed nothing). After a failure
  // some shards may have been restored and others not.
  [[nodiscard]] Status RestoreOverlay(const std::string& tag, OverlayStats* stats = nullptr);

  int num_shards() const { return static_cast<int>(shards_.size()); }
  // Over the client's life (successful pulls only): keys sent to the servers
  // (row-cache hits excluded) and, of those, absent from the snapshot. A
  // high ratio means the table does not match the data (worker::PullMonitor
  // fails the job on it).
  uint64_t keys_looked_up() const { return keys_looked_up_; }
  uint64_t keys_missing() const { return keys_missing_; }
  // The row cache, or null without one.
  const RowCache* cache() const { return cache_.get(); }

 private:
  struct Replica {
    proto::ServerAddress server;
    std::unique_ptr<net::RpcClient> rpc;  // null: reconnect before the next send
    TimePoint down_until{};               // skipped until then (when others are up)
    // Bumped whenever `rpc` is replaced or dropped: a request sent on an
    // older connection will never be answered.
    uint64_t generation = 0;
  };
  struct Shard {
    int index = 0;
    std::vector<Replica> replicas;
    size_t rotation = 0;  // next replica to read from
    // Per-Pull scratch, kept to avoid reallocating.
    std::vector<uint64_t> keys;
    std::vector<size_t> positions;  // index in the caller's request of each key
    bool identity = false;          // positions[i] == i for all i (skip the scatter)
    // Push and overlay calls: their one request to the shard.
    size_t replica = 0;             // the replica the request went to
    uint64_t request_id = 0;
    bool in_flight = false;
    std::vector<float> grads;  // Push scratch: this shard's gradient rows
  };
  // One pull request: keys[begin, end) of a shard's part of a Pull.
  struct PullPart {
    int shard = 0;
    size_t begin = 0;
    size_t end = 0;
    size_t replica = 0;       // the replica it went to
    uint64_t generation = 0;  // that replica's connection generation when sent
    uint64_t request_id = 0;
    bool in_flight = false;
    Status send_error;  // why the last send failed, when it did
  };

  // The shard that holds `key` (ShardOfKey over the shards connected).
  Shard& ShardFor(uint64_t key);
  // Empties every shard's per-call scratch (keys, positions, gradient rows).
  void ClearScratch();
  std::string Describe(const Shard& shard, const Replica& replica) const;
  std::string DescribeAll(const Shard& shard) const;
  Status Reconnect(Replica* replica);
  // Drops the replica's connection (requests in flight on it are lost).
  static void DropConnection(Replica* replica);
  // Picks the replica for the next request of `shard`: the next in rotation
  // that is not marked down (any when all are).
  size_t PickReplica(Shard* shard) const;
  // Splits each shard's keys into pull_parts_ (interleaved over the shards).
  void PlanPullParts();
  Status SendPull(PullPart* part, PullStats* stats);
  // Awaits the reply of `part`, failing over on timeouts; scatters its rows.
  Status AwaitPull(PullPart* part, float* rows_out, PullStats* stats);
  Status ScatterReply(const PullPart& part, const net::RpcReply& reply, float* rows_out,
                      PullStats* stats);
  // After an error: requests still in flight are abandoned by dropping their
  // connections, so stale replies never pile up.
  void AbandonInFlight();
  Status SendPush(Shard* shard, PushStats* stats);
  Status AwaitPush(Shard* shard, PushStats* stats);
  // Why this client cannot send writes to the servers (`method`: "Push",
  // `what`: "push to", ..., for the message): not connected, replicas, a
  // row cache; OK when it can.
  Status CheckWritable(const std::string& method, const std::string& what) const;
  // SnapshotOverlay (restore false) or RestoreOverlay to every shard.
  Status OverlayCall(bool restore, const std::string& tag, OverlayStats* stats);

  PsClientOptions options_;
  net::Transport* transport_;
  std::vector<Shard> shards_;  // index = shard
  std::vector<PullPart> pull_parts_;  // the requests of the current Pull
  std::unique_ptr<RowCache> cache_;
  std::vector<float> decode_scratch_;  // one decoded row at a time
  uint64_t keys_looked_up_ = 0;
  uint64_t keys_missing_ = 0;
};

}  // namespace iak::ps

#endif  // IAK_PS_PS_CLIENT_H_
