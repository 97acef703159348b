// PsServer: serves one shard of a frozen embedding snapshot to workers.
//
// Start() loads and verifies the shard (see EmbeddingShard::Open) and starts
// listening; Run() answers pull requests on the calling thread until stopped.
// With a ServerMembership (ps/server_membership.h; the scheduler's is
// scheduler/scheduler_server_membership.h) it joins the job as a server for
// its shard, reports its counters, serves until `stop` or until the job ends
// for it (the scheduler ended it or stops answering), then leaves; without
// one it serves until `stop`.
//
// A pull request is an Envelope with pull_request set and one payload frame of
// num_keys little-endian uint64 keys. The reply is a PullResponse and one frame
// of num_keys rows in request order, encoded as the snapshot stores them
// (row_dtype; see embedding/row_codec.h), zero rows for absent keys (counted
// in `missing`). Malformed requests get an InvalidArgument reply naming
// the sender; a request for another snapshot gets FailedPrecondition naming
// both ids. Neither stops the server.
//
// Frozen (the default): a push request is refused with FailedPrecondition
// (the snapshot is read-only) and the server keeps serving. Trainable
// (options.trainable.enabled, docs/trainable_ps.md): a push (PushRequest, one
// frame of num_keys uint64 keys, one of num_keys * dim float32 gradients)
// updates rows with a per-row optimizer (ps/sparse_row_optimizer.h) in an
// fp32 overlay; pulls then reply float32 rows (row_dtype 0) whatever the
// snapshot's encoding, trained rows included. When Run() ends (or on
// WriteTrainedSnapshot()) a trainable server with an output_model_dir writes
// its shard of a new snapshot there, and the last server to do so completes
// it with a manifest (embedding/trained_snapshot.h).
//
// A trainable server also keeps one copy of its overlay on request
// (OverlaySnapshotRequest, no payload: replaces the copy it held) and makes
// the overlay that copy again (OverlayRestoreRequest: rows and optimizer
// state; the copy is kept), so a job can end at its best validation point;
// the trained snapshot written at the end holds the rows live then. A copy
// doubles the overlay's memory. A frozen server refuses both with
// FailedPrecondition, as it refuses pushes, and keeps serving.
//
// Thread-safety: Start() then Run() from one thread; address(), snapshot_id()
// and the counters may be read from any thread once Start() returned OK.
#ifndef IAK_PS_PS_SERVER_H_
#define IAK_PS_PS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/fork_join.h"
#include "common/status.h"
#include "embedding/embedding_shard.h"
#include "net/rpc.h"
#include "net/transport.h"
#include "proto/model_manifest.pb.h"
#include "ps/server_membership.h"
#include "ps/sparse_row_optimizer.h"
#include "ps/trainable_shard.h"

namespace iak::ps {

struct TrainableOptions {
  // Off = frozen: pushes are refused.
  bool enabled = false;
  RowOptimizerOptions optimizer;
  // Where the trained snapshot goes at the end; empty = nowhere (only
  // WriteTrainedSnapshot(dir) writes one). Must differ from the model_dir and
  // not hold a complete model (checked at Start()).
  std::string output_model_dir;
  // After writing its shard, complete the snapshot (manifest) when every
  // shard is there. Default true.
  bool finalize_when_complete = true;
};

struct PsServerOptions {
  // The model directory written by `iak pretrain`.
  std::string model_dir;
  // Which shard of the model this server holds. Default 0.
  int shard = 0;
  // Which replica of that shard this server is (sent when it joins a job;
  // the scheduler lists every replica to workers). Default 0.
  int replica = 0;
  // Where to listen; port 0 picks a free port (see address()).
  std::string listen_address = "tcp://127.0.0.1:0";
  // The address sent when it joins a job, for workers to connect to;
  // empty = the address it listens on.
  std::string advertise_address;
  // For logs, error replies and the job's membership. Default "ps-0".
  std::string name = "ps-0";
  // The most memory the shard may take in memory (rows + index); a larger
  // shard is served by RocksDB point reads through an LRU block cache of
  // block_cache_bytes instead (same rows, slower). Default 0 = no limit.
  uint64_t memory_budget_bytes = 0;
  // That block cache's size. Default 64 MiB.
  uint64_t block_cache_bytes = uint64_t{64} << 20;
  // Full fine-tuning / distributed pre-training. Default: frozen.
  TrainableOptions trainable;
  // The largest pull reply (rows) this server builds. A pull of more keys
  // than fit (max_reply_bytes / the reply's row size from the manifest, see
  // max_keys_per_pull()) is refused with InvalidArgument naming the limit,
  // before a row is read or a byte allocated. Default 64 MiB (1 Mi rows of
  // 16 float32); 0 = no limit. Replies a peer does not read are bounded by
  // the transport (net/zmq_transport.h: max_queued_bytes_per_peer).
  uint64_t max_reply_bytes = uint64_t{64} << 20;
  // Threads that look up one pull's rows together, the server's own thread
  // among them: a pull of at least kMinKeysPerLookupThread keys per thread
  // is split into contiguous parts, one per thread, each copying its rows
  // into its part of the reply. While a pull is looked up its worker waits,
  // so on a host it shares with its workers the cores are otherwise idle.
  // Frozen shards, in memory or served from RocksDB (a trainable shard reads
  // on the server's thread). 0 = one per core, at most 4; 1 = no helpers.
  int lookup_threads = 0;
};

// The smallest part of a pull worth a lookup thread: a thread's wake-up
// costs about what looking up a few hundred keys does.
inline constexpr uint64_t kMinKeysPerLookupThread = 2048;

// The most lookup threads a server takes (`iak ps --ps_lookup_threads`,
// the pull bench's): far past any gain, short of what a system refuses to
// start.
inline constexpr int kMaxLookupThreads = 256;

// PsServerOptions::lookup_threads as a server on this host runs it: `asked`
// when > 0, else one per core, at most 4.
int LookupThreadsFor(int asked);

class PsServer {
 public:
  // `transport` is not owned and must outlive the server.
  PsServer(PsServerOptions options, net::Transport* transport);
  ~PsServer();

  PsServer(const PsServer&) = delete;
  PsServer& operator=(const PsServer&) = delete;

  // Reads the manifest, loads and verifies the shard, listens. Errors: those
  // of ReadManifest and EmbeddingShard::Open, InvalidArgument for a shard out
  // of range, and the transport's for the listen address.
  [[nodiscard]] Status Start();

  // The address workers connect to (the real port when listening on port 0).
  // Empty before Start().
  std::string address() const;
  const std::string& snapshot_id() const { return snapshot_id_; }

  // Serves until `stop` is true or, with a `membership` (not owned; used
  // only during the call), until the job ends for this server: joins first
  // (role server, shard, replica, advertised address, host, pid; heartbeats
  // carry keys_served() as samples) and leaves at the end. Returns
  // FailedPrecondition before a successful Start(), the membership's error
  // if joining fails, the trained snapshot's error (trainable servers),
  // OK otherwise.
  [[nodiscard]] Status Run(const std::atomic<bool>& stop, ServerMembership* membership = nullptr);

  uint64_t pulls_served() const { return pulls_served_.load(); }
  uint64_t keys_served() const { return keys_served_.load(); }
  uint64_t requests_refused() const { return requests_refused_.load(); }
  uint64_t pushes_applied() const { return pushes_applied_.load(); }
  // Overlay snapshots taken and restores done (trainable servers).
  uint64_t overlay_snapshots() const { return overlay_snapshots_.load(); }
  uint64_t overlay_restores() const { return overlay_restores_.load(); }
  // Replies built but not sent (the peer's queue was full or it was gone).
  uint64_t replies_dropped() const { return replies_dropped_.load(); }
  // The most keys one pull may ask for (from max_reply_bytes and the row
  // size); 0 before Start() or with no limit.
  uint64_t max_keys_per_pull() const { return max_keys_per_pull_; }
  bool trainable() const { return trainable_ != nullptr; }

  // Writes this server's shard of the trained snapshot into `out_dir` and,
  // with finalize_when_complete, the manifest once every shard is there.
  // Only while Run() is not running. FailedPrecondition on a frozen server
  // or before Start(); errors of TrainableShard::WriteSnapshot and
  // FinalizeTrainedSnapshot.
  [[nodiscard]] Status WriteTrainedSnapshot(const std::string& out_dir);

 private:
  void HandleCall(net::RpcCall call);
  void HandlePull(const net::RpcCall& call);
  // A frozen shard's rows for n keys into `out` (the snapshot's encoding),
  // split over lookup_pool_ when the pull is large enough; returns the
  // number of keys the snapshot does not hold.
  StatusOr<uint64_t> ReadFrozenRows(const uint64_t* keys, uint64_t n, char* out);
  void HandlePush(const net::RpcCall& call);
  void HandleOverlaySnapshot(const net::RpcCall& call);
  void HandleOverlayRestore(const net::RpcCall& call);
  // FailedPrecondition when a request names a snapshot other than this
  // server's (an empty id names none): "<what> from '<sender>' expects
  // snapshot X but this server <verb> snapshot Y (<model_dir>); <outcome>".
  Status CheckSnapshotId(const std::string& what, const std::string& sender,
                         const std::string& expected, const char* verb,
                         const std::string& outcome) const;
  // The refusal of a trainable-only request (`what`, e.g. "pushes") from a
  // frozen server or one that expects another snapshot; OK when neither.
  Status CheckTrainable(const std::string& what, const std::string& snapshot_id,
                        const std::string& sender) const;
  // False, after replying the refusal, when an overlay request (`what`:
  // "overlay snapshot" or "overlay restore") is refused as CheckTrainable
  // refuses it, or carries payload frames (it has none; `outcome` ends that
  // message, "nothing was saved").
  bool AcceptOverlayRequest(const net::RpcCall& call, const std::string& what,
                            const std::string& snapshot_id, const std::string& outcome);
  // Run()'s end: writes the trained snapshot when there is somewhere to.
  Status Finish();
  // Sends `reply` (no payload); one that cannot be sent goes to ReplyFailed.
  void SendReply(const net::RpcCall& call, proto::Envelope reply);
  void ReplyError(const net::RpcCall& call, const Status& error);
  // Logs a failed reply (rate-limited) and counts it.
  void ReplyFailed(const net::RpcCall& call, const Status& sent);

  PsServerOptions options_;
  net::Transport* transport_;
  proto::ModelManifest manifest_;
  std::string snapshot_id_;
  std::unique_ptr<embedding::EmbeddingShard> shard_;
  // Null when lookups run on the server's thread alone.
  std::unique_ptr<ForkJoinPool> lookup_pool_;
  std::unique_ptr<TrainableShard> trainable_;  // null = frozen
  std::unique_ptr<net::RpcServer> server_;
  std::string address_;
  uint64_t max_keys_per_pull_ = 0;  // set in Start(); 0 = no limit

  // Read by the heartbeat thread.
  std::atomic<uint64_t> pulls_served_{0};
  std::atomic<uint64_t> keys_served_{0};
  std::atomic<uint64_t> requests_refused_{0};
  std::atomic<uint64_t> pushes_applied_{0};
  std::atomic<uint64_t> overlay_snapshots_{0};
  std::atomic<uint64_t> overlay_restores_{0};
  std::atomic<uint64_t> replies_dropped_{0};
};

}  // namespace iak::ps

#endif  // IAK_PS_PS_SERVER_H_
