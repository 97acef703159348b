// PsServer: serves one shard of a frozen embedding snapshot to workers.
//
// Start() loads and verifies the shard (see EmbeddingShard::Open) and starts
// listening; Run() answers pull requests on the calling thread until stopped.
// With a scheduler address it registers as a server for its shard, heartbeats,
// serves until `stop` or until the scheduler ends the job (or stops
// answering), then deregisters; without one it serves until `stop`.
//
// A pull request is an Envelope with pull_request set and one payload frame of
// num_keys little-endian uint64 keys. The reply is a PullResponse and one frame
// of num_keys rows in request order, encoded as the snapshot stores them
// (row_dtype; see embedding/row_codec.h), zero rows for absent keys (counted
// in `missing`). Malformed requests get an InvalidArgument reply naming
// the sender; a request for another snapshot gets FailedPrecondition naming
// both ids. Neither stops the server.
//
// Thread-safety: Start() then Run() from one thread; address(), snapshot_id()
// and the counters may be read from any thread once Start() returned OK.
#ifndef IAK_PS_PS_SERVER_H_
#define IAK_PS_PS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "embedding/embedding_shard.h"
#include "net/rpc.h"
#include "net/transport.h"
#include "proto/iak.pb.h"

namespace iak::ps {

struct PsServerOptions {
  // The model directory written by `iak pretrain`.
  std::string model_dir;
  // Which shard of the model this server holds. Default 0.
  int shard = 0;
  // Which replica of that shard this server is (registered with the
  // scheduler, which lists every replica to workers). Default 0.
  int replica = 0;
  // Where to listen; port 0 picks a free port (see address()).
  std::string listen_address = "tcp://127.0.0.1:0";
  // The address registered with the scheduler for workers to connect to;
  // empty = the address it listens on.
  std::string advertise_address;
  // The scheduler to register with; empty = standalone, serve until stopped.
  std::string scheduler_address;
  // For logs, error replies and the scheduler. Default "ps-0".
  std::string name = "ps-0";
  // The most memory the shard may take in memory (rows + index); a larger
  // shard is served by RocksDB point reads through an LRU block cache of
  // block_cache_bytes instead (same rows, slower). Default 0 = no limit.
  uint64_t memory_budget_bytes = 0;
  // That block cache's size. Default 64 MiB.
  uint64_t block_cache_bytes = uint64_t{64} << 20;
};

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

  // Serves until `stop` is true or the scheduler ends the job. Returns
  // FailedPrecondition before a successful Start(), the scheduler client's
  // error if registration fails, OK otherwise.
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);

  uint64_t pulls_served() const { return pulls_served_.load(); }
  uint64_t keys_served() const { return keys_served_.load(); }
  uint64_t requests_refused() const { return requests_refused_.load(); }

 private:
  void HandleCall(net::RpcCall call);
  void HandlePull(const net::RpcCall& call);
  void ReplyError(const net::RpcCall& call, const Status& error);

  PsServerOptions options_;
  net::Transport* transport_;
  proto::ModelManifest manifest_;
  std::string snapshot_id_;
  std::unique_ptr<embedding::EmbeddingShard> shard_;
  std::unique_ptr<net::RpcServer> server_;
  std::string address_;

  // Read by the heartbeat thread.
  std::atomic<uint64_t> pulls_served_{0};
  std::atomic<uint64_t> keys_served_{0};
  std::atomic<uint64_t> requests_refused_{0};
};

}  // namespace iak::ps

#endif  // IAK_PS_PS_SERVER_H_
