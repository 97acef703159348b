#include "ps/ps_server.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "common/keys.h"
#include "embedding/manifest_io.h"
#include "embedding/trained_snapshot.h"

namespace iak::ps {
namespace {

// The name of the request's body ("heartbeat"), for error messages.
std::string BodyName(const proto::Envelope& envelope) {
  if (envelope.body_case() == proto::Envelope::BODY_NOT_SET) return "an empty request";
  const google::protobuf::FieldDescriptor* field =
      proto::Envelope::descriptor()->FindFieldByNumber(envelope.body_case());
  return field == nullptr ? "an unknown request" : "a " + field->name() + " request";
}

std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "";
  return host;
}

}  // namespace

PsServer::PsServer(PsServerOptions options, net::Transport* transport)
    : options_(std::move(options)), transport_(transport) {
  CHECK(transport_ != nullptr);
}

PsServer::~PsServer() = default;

Status PsServer::Start() {
  if (server_ != nullptr) return FailedPreconditionError(options_.name + " was already started");
  IAK_ASSIGN_OR_RETURN(manifest_, embedding::ReadManifest(options_.model_dir));
  if (options_.shard < 0 || options_.shard >= manifest_.num_shards()) {
    return InvalidArgumentError(options_.name + ": shard " + std::to_string(options_.shard) +
                                " does not exist; the model in " + options_.model_dir + " has " +
                                std::to_string(manifest_.num_shards()) + " shards (0.." +
                                std::to_string(manifest_.num_shards() - 1) + ")");
  }
  embedding::EmbeddingShard::LoadOptions load_options;
  load_options.memory_budget_bytes = options_.memory_budget_bytes;
  load_options.block_cache_bytes = options_.block_cache_bytes;
  IAK_ASSIGN_OR_RETURN(shard_,
                       embedding::EmbeddingShard::Open(options_.model_dir, manifest_,
                                                       options_.shard, load_options));
  snapshot_id_ = manifest_.snapshot_id();
  if (options_.trainable.enabled) {
    const std::string& out = options_.trainable.output_model_dir;
    if (!out.empty()) {
      std::error_code ec;
      if (std::filesystem::equivalent(out, options_.model_dir, ec)) {
        return InvalidArgumentError(options_.name + ": the trained snapshot's output_model_dir " +
                                    out + " is the model it trains from; give another directory");
      }
      if (std::filesystem::exists(embedding::ManifestPath(out), ec)) {
        return Status(StatusCode::kAlreadyExists,
                      options_.name + ": output_model_dir " + out +
                          " already holds a complete model; give another directory or remove it");
      }
    }
    trainable_ = std::make_unique<TrainableShard>(shard_.get(), options_.model_dir, manifest_,
                                                  options_.trainable.optimizer);
  }
  StatusOr<std::unique_ptr<net::Listener>> listener = transport_->Listen(options_.listen_address);
  if (!listener.ok()) {
    return listener.status().WithContext(options_.name + ": cannot listen on " +
                                         options_.listen_address);
  }
  net::RpcServerOptions server_options;
  server_options.name = options_.name;
  server_ = std::make_unique<net::RpcServer>(std::move(listener).value(), server_options);
  address_ = server_->address();
  if (options_.max_reply_bytes > 0) {
    const uint64_t row_bytes = trainable_ != nullptr ? shard_->dim() * sizeof(float)
                                                     : shard_->row_bytes();
    max_keys_per_pull_ = std::max<uint64_t>(1, options_.max_reply_bytes / std::max<uint64_t>(1, row_bytes));
  }
  const int lookup_threads = LookupThreadsFor(options_.lookup_threads);
  if (trainable_ == nullptr && lookup_threads > 1) {
    lookup_pool_ = std::make_unique<ForkJoinPool>(lookup_threads);
  }
  LOG(INFO) << options_.name << ": serving shard " << options_.shard << " of "
            << manifest_.num_shards() << " (replica " << options_.replica << ", "
            << shard_->num_rows() << " rows, dim " << shard_->dim() << ", "
            << embedding::RowDtypeName(shard_->dtype()) << ") of snapshot " << snapshot_id_ << " from "
            << shard_->directory() << " at " << address_
            << (shard_->in_memory() ? "" : " (over the memory budget: served from RocksDB)")
            << (lookup_pool_ == nullptr
                    ? ""
                    : ", " + std::to_string(lookup_pool_->num_threads()) + " lookup threads")
            << (trainable_ == nullptr
                    ? ""
                    : std::string(", TRAINABLE (") +
                          RowOptimizerName(options_.trainable.optimizer.kind) + ", lr " +
                          std::to_string(options_.trainable.optimizer.learning_rate) +
                          ", trained snapshot to " +
                          (options_.trainable.output_model_dir.empty()
                               ? std::string("nowhere")
                               : options_.trainable.output_model_dir) +
                          ")");
  return Status::Ok();
}

std::string PsServer::address() const { return address_; }

Status PsServer::Run(const std::atomic<bool>& stop, ServerMembership* membership) {
  if (server_ == nullptr) {
    return FailedPreconditionError(options_.name + ": Run() before a successful Start()");
  }
  auto handler = [this](net::RpcCall call) { HandleCall(std::move(call)); };

  if (membership == nullptr) {
    server_->Run(stop, handler, nullptr);
    LOG(INFO) << options_.name << ": stopped after " << pulls_served() << " pulls";
    return Finish();
  }

  proto::RegisterRequest request;
  request.set_role(proto::ROLE_SERVER);
  request.set_name(options_.name);
  // Behind NAT or in a pod, peers reach this server at another address than
  // the one it bound (e.g. tcp://0.0.0.0:7001 vs its DNS name).
  request.set_address(options_.advertise_address.empty() ? address_ : options_.advertise_address);
  request.set_shard(options_.shard);
  request.set_replica(options_.replica);
  request.set_host(HostName());
  request.set_pid(static_cast<int>(getpid()));
  StatusOr<int> node_id = membership->Join(request, [this](proto::Heartbeat* heartbeat) {
    heartbeat->set_samples(static_cast<int64_t>(keys_served()));
  });
  if (!node_id.ok()) {
    return node_id.status().WithContext(options_.name + ": cannot register with " +
                                        membership->description());
  }
  LOG(INFO) << options_.name << ": registered with " << membership->description() << " as node "
            << *node_id;

  // The RPC loop watches one flag; the tick folds the membership's verdict in.
  std::atomic<bool> done{false};
  auto on_tick = [&] {
    if (stop.load() || membership->ended()) done.store(true);
  };
  server_->Run(done, handler, on_tick);

  if (membership->ended()) {
    const std::string reason = membership->end_reason();
    if (reason.empty()) {
      LOG(INFO) << options_.name << ": " << membership->description() << " ended the job";
    } else {
      LOG(WARNING) << options_.name << ": stopping: " << reason;
    }
  }
  Status finished = Finish();
  Status left = membership->Leave();
  if (!left.ok()) LOG(WARNING) << options_.name << ": leaving the job failed (ignored): " << left;
  LOG(INFO) << options_.name << ": stopped after " << pulls_served() << " pulls";
  return finished;
}

Status PsServer::Finish() {
  if (trainable_ == nullptr || options_.trainable.output_model_dir.empty()) return Status::Ok();
  return WriteTrainedSnapshot(options_.trainable.output_model_dir);
}

Status PsServer::WriteTrainedSnapshot(const std::string& out_dir) {
  if (trainable_ == nullptr) {
    return FailedPreconditionError(options_.name + " serves a frozen snapshot" +
                                   (shard_ == nullptr ? " (not started)" : "") +
                                   "; there is no trained snapshot to write");
  }
  Status written = trainable_->WriteSnapshot(out_dir);
  if (!written.ok()) return written.WithContext(options_.name + ": writing its trained shard");
  LOG(INFO) << options_.name << ": wrote shard " << options_.shard << " of the trained snapshot ("
            << trainable_->optimizer().num_rows() << " rows trained, "
            << trainable_->optimizer().num_created() << " new, " << trainable_->pushes()
            << " pushes) to " << out_dir;
  if (!options_.trainable.finalize_when_complete) return Status::Ok();
  StatusOr<std::vector<int>> missing = embedding::MissingTrainedShards(out_dir);
  if (!missing.ok()) return missing.status().WithContext(options_.name);
  if (!missing->empty()) {
    LOG(INFO) << options_.name << ": " << missing->size()
              << " shard(s) of the trained snapshot still to come; the last server to finish "
                 "writes its manifest (or run `iak snapshot finalize "
              << out_dir << "`)";
    return Status::Ok();
  }
  StatusOr<proto::ModelManifest> manifest = embedding::FinalizeTrainedSnapshot(out_dir);
  if (!manifest.ok()) return manifest.status().WithContext(options_.name + ": finalizing");
  LOG(INFO) << options_.name << ": trained snapshot " << manifest->snapshot_id() << " complete in "
            << out_dir;
  return Status::Ok();
}

void PsServer::HandleCall(net::RpcCall call) {
  switch (call.request.body_case()) {
    case proto::Envelope::kPullRequest:
      return HandlePull(call);
    case proto::Envelope::kPushRequest:
      return HandlePush(call);
    case proto::Envelope::kOverlaySnapshotRequest:
      return HandleOverlaySnapshot(call);
    case proto::Envelope::kOverlayRestoreRequest:
      return HandleOverlayRestore(call);
    default:
      ReplyError(call, InvalidArgumentError("got " + BodyName(call.request) + " from '" +
                                            call.request.sender() +
                                            "'; a parameter server answers only pull, push and "
                                            "overlay snapshot/restore requests"));
  }
}

int LookupThreadsFor(int asked) {
  if (asked > 0) return asked;
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 4);
}

StatusOr<uint64_t> PsServer::ReadFrozenRows(const uint64_t* keys, uint64_t n, char* out) {
  const uint64_t parts =
      lookup_pool_ == nullptr
          ? 1
          : std::min<uint64_t>(lookup_pool_->num_threads(), n / kMinKeysPerLookupThread);
  if (parts <= 1) return shard_->ReadRows(keys, n, out);
  const size_t row_bytes = shard_->row_bytes();
  std::vector<StatusOr<uint64_t>> missing(parts, uint64_t{0});
  lookup_pool_->Run([&](int part) {
    if (static_cast<uint64_t>(part) >= parts) return;
    const uint64_t begin = n * part / parts, end = n * (part + 1) / parts;
    missing[part] = shard_->ReadRows(keys + begin, end - begin, out + begin * row_bytes);
  });
  uint64_t total = 0;
  for (const StatusOr<uint64_t>& m : missing) {
    if (!m.ok()) return m.status();
    total += *m;
  }
  return total;
}

void PsServer::HandlePull(const net::RpcCall& call) {
  const proto::PullRequest& pull = call.request.pull_request();
  const std::string& sender = call.request.sender();
  if (call.payload.size() != 1) {
    ReplyError(call, InvalidArgumentError("pull from '" + sender + "' carries " +
                                          std::to_string(call.payload.size()) +
                                          " payload frames, expected 1 (the keys)"));
    return;
  }
  const net::Frame& key_frame = call.payload[0];
  const uint64_t n = pull.num_keys();
  if (key_frame.size() % sizeof(uint64_t) != 0 || key_frame.size() / sizeof(uint64_t) != n) {
    ReplyError(call, InvalidArgumentError(
                         "pull from '" + sender + "' announces " + std::to_string(n) +
                         " keys but its key frame has " + std::to_string(key_frame.size()) +
                         " bytes, expected " + std::to_string(n) + " x 8"));
    return;
  }
  if (max_keys_per_pull_ != 0 && n > max_keys_per_pull_) {
    // Checked before the reply is allocated: its size is n x the row size.
    ReplyError(call, InvalidArgumentError(
                         "pull from '" + sender + "' asks for " + std::to_string(n) +
                         " keys; " + options_.name + " answers at most " +
                         std::to_string(max_keys_per_pull_) + " per pull (max_reply_bytes " +
                         std::to_string(options_.max_reply_bytes) +
                         "); split the pull or raise --ps_max_reply_bytes"));
    return;
  }
  Status same_snapshot = CheckSnapshotId("pull", sender, pull.snapshot_id(), "holds",
                                         "start workers and servers from the same model directory");
  if (!same_snapshot.ok()) {
    ReplyError(call, same_snapshot);
    return;
  }

  // Keys are read in place when the frame is aligned (it is, from malloc).
  const uint64_t* keys = reinterpret_cast<const uint64_t*>(key_frame.data());
  std::vector<uint64_t> aligned;
  if (reinterpret_cast<uintptr_t>(key_frame.data()) % alignof(uint64_t) != 0) {
    aligned.resize(n);
    std::memcpy(aligned.data(), key_frame.data(), key_frame.size());
    keys = aligned.data();
  }
  // Rows are written straight into the reply frame, in the snapshot's
  // encoding (float32 from a trainable server); ZeroMQ then sends that
  // buffer without another copy. Every byte of it is written (absent keys
  // get zero rows), so it is not zero-filled first.
  const bool fp32 = trainable_ != nullptr;
  net::Frame rows =
      net::Frame::Uninitialized(n * (fp32 ? shard_->dim() * sizeof(float) : shard_->row_bytes()));
  StatusOr<uint64_t> looked_up =
      fp32 ? trainable_->ReadRows(keys, n, reinterpret_cast<float*>(rows.data()))
           : ReadFrozenRows(keys, n, rows.data());
  if (!looked_up.ok()) {
    ReplyError(call, looked_up.status().WithContext(options_.name));
    return;
  }
  const uint64_t missing = *looked_up;

  proto::Envelope reply;
  proto::PullResponse* response = reply.mutable_pull_response();
  response->set_num_keys(n);
  response->set_dim(shard_->dim());
  response->set_missing(missing);
  response->set_row_dtype(
      static_cast<int>(fp32 ? embedding::RowDtype::kFloat32 : shard_->dtype()));
  std::vector<net::Frame> payload;
  payload.push_back(std::move(rows));
  // Counted before the reply leaves, so a client that got its reply always
  // sees it counted (tests read the counters right after a Pull).
  pulls_served_.fetch_add(1);
  keys_served_.fetch_add(n);
  Status sent = server_->Reply(call, std::move(reply), std::move(payload));
  if (!sent.ok()) {
    pulls_served_.fetch_sub(1);
    keys_served_.fetch_sub(n);
    ReplyFailed(call, sent);
  }
}

void PsServer::HandlePush(const net::RpcCall& call) {
  const proto::PushRequest& push = call.request.push_request();
  const std::string& sender = call.request.sender();
  if (trainable_ == nullptr) {
    ReplyError(call, FailedPreconditionError(
                         options_.name + " serves a frozen snapshot; pushes are refused (push of " +
                         std::to_string(push.num_keys()) + " keys from '" + sender +
                         "'): set trainable {...} in the job spec (or --trainable_optimizer on "
                         "`iak ps`) for full fine-tuning"));
    return;
  }
  const uint64_t n = push.num_keys();
  const size_t dim = static_cast<size_t>(shard_->dim());
  if (call.payload.size() != 2) {
    ReplyError(call, InvalidArgumentError("push from '" + sender + "' carries " +
                                          std::to_string(call.payload.size()) +
                                          " payload frames, expected 2 (keys, gradients); "
                                          "nothing was applied"));
    return;
  }
  const net::Frame& key_frame = call.payload[0];
  const net::Frame& grad_frame = call.payload[1];
  if (key_frame.size() % sizeof(uint64_t) != 0 || key_frame.size() / sizeof(uint64_t) != n ||
      grad_frame.size() % sizeof(float) != 0 || grad_frame.size() / sizeof(float) / dim != n ||
      grad_frame.size() / sizeof(float) % dim != 0) {
    ReplyError(call, InvalidArgumentError(
                         "push from '" + sender + "' announces " + std::to_string(n) +
                         " keys but carries a key frame of " + std::to_string(key_frame.size()) +
                         " bytes and a gradient frame of " + std::to_string(grad_frame.size()) +
                         " bytes, expected " + std::to_string(n) + " x 8 and " +
                         std::to_string(n) + " x " + std::to_string(dim) +
                         " x 4 (float32 at dim " + std::to_string(dim) +
                         "); nothing was applied"));
    return;
  }
  Status same_snapshot =
      CheckSnapshotId("push", sender, push.snapshot_id(), "trains", "nothing was applied");
  if (!same_snapshot.ok()) {
    ReplyError(call, same_snapshot);
    return;
  }
  // Frames are copied out: their buffers carry no alignment guarantee.
  std::vector<uint64_t> keys(n);
  std::vector<float> grads(n * dim);
  if (n != 0) {
    std::memcpy(keys.data(), key_frame.data(), key_frame.size());
    std::memcpy(grads.data(), grad_frame.data(), grad_frame.size());
  }
  // A key of another shard would create a row that the trained snapshot
  // refuses at the end (WriteTrainedShard), losing this shard's whole
  // training: refuse the push before anything is applied.
  for (uint64_t key : keys) {
    const int owner = ShardOfKey(key, manifest_.num_shards());
    if (owner != options_.shard) {
      ReplyError(call, InvalidArgumentError(
                           options_.name + ": push from '" + sender + "' carries key " +
                           std::to_string(key) + " of shard " + std::to_string(owner) +
                           ", this server holds shard " + std::to_string(options_.shard) +
                           " of " + std::to_string(manifest_.num_shards()) +
                           "; nothing was applied (the client's shard list does not match the "
                           "servers': check its ps addresses)"));
      return;
    }
  }
  uint64_t created = 0;
  StatusOr<uint64_t> applied = trainable_->Apply(keys.data(), n, grads.data(), &created);
  if (!applied.ok()) {
    ReplyError(call, applied.status().WithContext(options_.name + ": push from '" + sender + "'"));
    return;
  }
  proto::Envelope reply;
  reply.mutable_push_response()->set_applied(*applied);
  reply.mutable_push_response()->set_created(created);
  pushes_applied_.fetch_add(1);
  SendReply(call, std::move(reply));
}

Status PsServer::CheckTrainable(const std::string& what, const std::string& snapshot_id,
                                const std::string& sender) const {
  if (trainable_ == nullptr) {
    return FailedPreconditionError(
        options_.name + " serves a frozen snapshot; " + what + " from '" + sender +
        "' refused: there are no trained rows (set trainable {...} in the job spec, or "
        "--trainable_optimizer on `iak ps`, for full fine-tuning)");
  }
  return CheckSnapshotId(what, sender, snapshot_id, "trains", "nothing was changed");
}

Status PsServer::CheckSnapshotId(const std::string& what, const std::string& sender,
                                 const std::string& expected, const char* verb,
                                 const std::string& outcome) const {
  if (expected.empty() || expected == snapshot_id_) return Status::Ok();
  return FailedPreconditionError(what + " from '" + sender + "' expects snapshot " + expected +
                                 " but this server " + verb + " snapshot " + snapshot_id_ + " (" +
                                 options_.model_dir + "); " + outcome);
}

bool PsServer::AcceptOverlayRequest(const net::RpcCall& call, const std::string& what,
                                    const std::string& snapshot_id, const std::string& outcome) {
  const std::string& sender = call.request.sender();
  Status allowed = CheckTrainable("an " + what, snapshot_id, sender);
  if (allowed.ok() && !call.payload.empty()) {
    allowed = InvalidArgumentError(what + " from '" + sender + "' carries " +
                                   std::to_string(call.payload.size()) +
                                   " payload frames, expected none; " + outcome);
  }
  if (!allowed.ok()) ReplyError(call, allowed);
  return allowed.ok();
}

void PsServer::HandleOverlaySnapshot(const net::RpcCall& call) {
  const proto::OverlaySnapshotRequest& request = call.request.overlay_snapshot_request();
  const std::string& sender = call.request.sender();
  if (!AcceptOverlayRequest(call, "overlay snapshot", request.snapshot_id(), "nothing was saved")) {
    return;
  }
  trainable_->SaveOverlay(request.tag());
  const SparseRowOptimizer& live = trainable_->optimizer();
  proto::Envelope reply;
  proto::OverlaySnapshotResponse* response = reply.mutable_overlay_snapshot_response();
  response->set_rows(live.num_rows());
  response->set_bytes(trainable_->saved_bytes());
  overlay_snapshots_.fetch_add(1);
  LOG(INFO) << options_.name << ": overlay snapshot '" << request.tag() << "' from '" << sender
            << "': " << live.num_rows() << " trained rows, " << trainable_->saved_bytes()
            << " bytes copied";
  SendReply(call, std::move(reply));
}

void PsServer::HandleOverlayRestore(const net::RpcCall& call) {
  const proto::OverlayRestoreRequest& request = call.request.overlay_restore_request();
  const std::string& sender = call.request.sender();
  if (!AcceptOverlayRequest(call, "overlay restore", request.snapshot_id(),
                            "nothing was changed")) {
    return;
  }
  const uint64_t before = trainable_->optimizer().num_rows();
  Status restored = trainable_->RestoreOverlay(request.tag());
  if (!restored.ok()) {
    ReplyError(call, restored.WithContext(options_.name + ": overlay restore from '" + sender +
                                          "'"));
    return;
  }
  const uint64_t after = trainable_->optimizer().num_rows();
  proto::Envelope reply;
  proto::OverlayRestoreResponse* response = reply.mutable_overlay_restore_response();
  response->set_rows(after);
  response->set_rows_discarded(before > after ? before - after : 0);
  response->set_tag(trainable_->saved_tag());
  overlay_restores_.fetch_add(1);
  LOG(INFO) << options_.name << ": restored overlay snapshot '" << trainable_->saved_tag()
            << "' for '" << sender << "': " << after << " trained rows (" << before
            << " before)";
  SendReply(call, std::move(reply));
}

void PsServer::SendReply(const net::RpcCall& call, proto::Envelope reply) {
  Status sent = server_->Reply(call, std::move(reply));
  if (!sent.ok()) ReplyFailed(call, sent);
}

void PsServer::ReplyError(const net::RpcCall& call, const Status& error) {
  requests_refused_.fetch_add(1);
  uint64_t suppressed = 0;
  if (server_->log_limiter()->Allow(&suppressed)) {
    LOG(WARNING) << options_.name << ": refused: " << error << net::SuppressedNote(suppressed);
  }
  Status sent = server_->ReplyError(call, error);
  if (!sent.ok()) ReplyFailed(call, sent);
}

void PsServer::ReplyFailed(const net::RpcCall& call, const Status& sent) {
  replies_dropped_.fetch_add(1);
  uint64_t suppressed = 0;
  if (server_->log_limiter()->Allow(&suppressed)) {
    LOG(WARNING) << options_.name << ": cannot reply to '" << call.request.sender()
                 << "': " << sent << net::SuppressedNote(suppressed);
  }
}

}  // namespace iak::ps
