#include "ps/ps_client.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/keys.h"
#include "embedding/row_codec.h"

namespace iak::ps {
namespace {

bool IsRetryable(const Status& status) {
  return status.code() == StatusCode::kDeadlineExceeded ||
         status.code() == StatusCode::kUnavailable;
}

}  // namespace

PsClient::PsClient(PsClientOptions options, net::Transport* transport)
    : options_(std::move(options)), transport_(transport) {
  CHECK(transport_ != nullptr);
}

PsClient::~PsClient() = default;

std::string PsClient::Describe(const Shard& shard, const Replica& replica) const {
  std::string text = "shard " + std::to_string(shard.index);
  if (shard.replicas.size() > 1) text += " replica " + std::to_string(replica.server.replica());
  text += " at " + replica.server.address();
  if (!replica.server.name().empty()) text += " (" + replica.server.name() + ")";
  return text;
}

std::string PsClient::DescribeAll(const Shard& shard) const {
  if (shard.replicas.size() == 1) return Describe(shard, shard.replicas[0]);
  std::string text = "shard " + std::to_string(shard.index) + " (all " +
                     std::to_string(shard.replicas.size()) + " replicas:";
  for (const Replica& r : shard.replicas) text += " " + r.server.address();
  return text + ")";
}

Status PsClient::Connect() {
  if (options_.servers.empty()) {
    return InvalidArgumentError(options_.name + ": no parameter servers given");
  }
  if (options_.dim <= 0) {
    return InvalidArgumentError(options_.name + ": embedding dim must be positive, got " +
                                std::to_string(options_.dim));
  }
  if (options_.max_attempts < 1) {
    return InvalidArgumentError(options_.name + ": max_attempts must be at least 1, got " +
                                std::to_string(options_.max_attempts));
  }
  int num_shards = 0;
  for (const proto::ServerAddress& server : options_.servers) {
    if (server.shard() < 0) {
      return InvalidArgumentError(options_.name + ": server " + server.address() +
                                  " has negative shard " + std::to_string(server.shard()));
    }
    num_shards = std::max(num_shards, server.shard() + 1);
  }
  std::vector<Shard> shards(num_shards);
  for (int s = 0; s < num_shards; ++s) shards[s].index = s;
  for (const proto::ServerAddress& server : options_.servers) {
    Shard& shard = shards[server.shard()];
    for (const Replica& other : shard.replicas) {
      if (other.server.replica() == server.replica()) {
        return InvalidArgumentError(options_.name + ": shard " + std::to_string(server.shard()) +
                                    " replica " + std::to_string(server.replica()) +
                                    " is listed twice (" + other.server.address() + " and " +
                                    server.address() + ")");
      }
    }
    Replica replica;
    replica.server = server;
    shard.replicas.push_back(std::move(replica));
  }
  for (Shard& shard : shards) {
    if (shard.replicas.empty()) {
      return InvalidArgumentError(options_.name + ": no server for shard " +
                                  std::to_string(shard.index) + " of " +
                                  std::to_string(num_shards) +
                                  " (every shard up to the highest listed needs one)");
    }
    std::sort(shard.replicas.begin(), shard.replicas.end(),
              [](const Replica& a, const Replica& b) {
                return a.server.replica() < b.server.replica();
              });
    shard.rotation = (options_.replica_offset + static_cast<uint64_t>(shard.index)) %
                     shard.replicas.size();
  }
  shards_ = std::move(shards);
  for (Shard& shard : shards_) {
    for (Replica& replica : shard.replicas) {
      Status connected = Reconnect(&replica);
      if (!connected.ok()) {
        shards_.clear();
        return connected.WithContext(options_.name + ": " + Describe(shard, replica));
      }
    }
  }
  cache_.reset();
  if (options_.cache_bytes > 0) cache_ = std::make_unique<RowCache>(options_.dim, options_.cache_bytes);
  decode_scratch_.assign(options_.dim, 0.0f);
  return Status::Ok();
}

Status PsClient::Reconnect(Replica* replica) {
  DropConnection(replica);
  StatusOr<std::unique_ptr<net::Connection>> connection =
      transport_->Connect(replica->server.address());
  if (!connection.ok()) {
    return UnavailableError("cannot connect to " + replica->server.address() + ": " +
                            connection.status().ToString());
  }
  replica->rpc = std::make_unique<net::RpcClient>(std::move(connection).value(), options_.name);
  return Status::Ok();
}

void PsClient::DropConnection(Replica* replica) {
  replica->rpc.reset();
  ++replica->generation;
}

size_t PsClient::PickReplica(Shard* shard) const {
  const size_t count = shard->replicas.size();
  const TimePoint now = std::chrono::steady_clock::now();
  for (size_t step = 0; step < count; ++step) {
    const size_t r = (shard->rotation + step) % count;
    if (shard->replicas[r].down_until <= now) {
      shard->rotation = (r + 1) % count;
      return r;
    }
  }
  // All are marked down: try them in turn anyway.
  const size_t r = shard->rotation;
  shard->rotation = (r + 1) % count;
  return r;
}

void PsClient::PlanPullParts() {
  pull_parts_.clear();
  const size_t per_request =
      options_.keys_per_request > 0 ? options_.keys_per_request : static_cast<size_t>(-1);
  // Round-robin over the shards, so every server gets its first request
  // before any gets its second.
  for (size_t begin = 0;; begin += per_request) {
    bool any = false;
    for (const Shard& shard : shards_) {
      const size_t n = shard.keys.size();
      if (begin >= n) continue;
      PullPart part;
      part.shard = shard.index;
      part.begin = begin;
      part.end = n - begin > per_request ? begin + per_request : n;
      pull_parts_.push_back(std::move(part));
      any = true;
    }
    if (!any || per_request == static_cast<size_t>(-1)) break;
  }
}

Status PsClient::SendPull(PullPart* part, PullStats* stats) {
  Shard& shard = shards_[part->shard];
  part->send_error = Status::Ok();
  part->in_flight = false;
  part->replica = PickReplica(&shard);
  Replica& replica = shard.replicas[part->replica];
  if (replica.rpc == nullptr) {
    part->send_error = Reconnect(&replica);
    IAK_RETURN_IF_ERROR(part->send_error);
  }
  const size_t n = part->end - part->begin;
  proto::Envelope request;
  proto::PullRequest* pull = request.mutable_pull_request();
  pull->set_num_keys(n);
  pull->set_snapshot_id(options_.snapshot_id);
  const size_t key_bytes = n * sizeof(uint64_t);
  std::vector<net::Frame> payload;
  payload.emplace_back(reinterpret_cast<const char*>(shard.keys.data() + part->begin), key_bytes);
  StatusOr<uint64_t> id = replica.rpc->Send(std::move(request), std::move(payload));
  ++stats->requests;
  if (!id.ok()) {
    part->send_error = id.status();
    return id.status();
  }
  stats->bytes += key_bytes;
  part->request_id = *id;
  part->generation = replica.generation;
  part->in_flight = true;
  return Status::Ok();
}

Status PsClient::AwaitPull(PullPart* part, float* rows_out, PullStats* stats) {
  Shard& shard = shards_[part->shard];
  Deadline deadline = Deadline::After(options_.pull_timeout);
  Status last = part->send_error;
  for (int attempt = 1;; ++attempt) {
    Replica& replica = shard.replicas[part->replica];
    if (part->in_flight && (replica.rpc == nullptr || replica.generation != part->generation)) {
      // Another request on its connection failed and dropped it: this one
      // will never be answered there.
      part->in_flight = false;
      last = UnavailableError("its connection was dropped when another request on it failed");
    } else if (part->in_flight) {
      StatusOr<net::RpcReply> reply = replica.rpc->Await(part->request_id, deadline);
      part->in_flight = false;
      if (reply.ok()) return ScatterReply(*part, *reply, rows_out, stats);
      last = reply.status();
      if (!IsRetryable(last)) {
        return last.WithContext(options_.name + ": pull from " + Describe(shard, replica));
      }
      // This replica failed: drop its connection (what it still carries is
      // stale) and skip it for a while if another one can answer.
      DropConnection(&replica);
      replica.down_until = std::chrono::steady_clock::now() + options_.replica_down_for;
    } else {
      // The send failed.
      DropConnection(&replica);
      replica.down_until = std::chrono::steady_clock::now() + options_.replica_down_for;
    }
    if (attempt >= options_.max_attempts) break;
    LOG(WARNING) << options_.name << ": pull from " << Describe(shard, replica) << " failed ("
                 << last << "); retrying"
                 << (shard.replicas.size() > 1 ? " on another replica" : " on a new connection")
                 << " (attempt " << attempt + 1 << " of " << options_.max_attempts << ")";
    ++stats->retries;
    deadline = Deadline::After(options_.pull_timeout);
    last = SendPull(part, stats);
    if (!last.ok() && !IsRetryable(last)) {
      return last.WithContext(options_.name + ": pull from " +
                              Describe(shard, shard.replicas[part->replica]));
    }
  }
  return UnavailableError(options_.name + ": " + DescribeAll(shard) +
                          " did not answer a pull of " + std::to_string(part->end - part->begin) +
                          " keys in " + std::to_string(options_.max_attempts) + " attempts of " +
                          std::to_string(options_.pull_timeout.count()) +
                          " ms; is the server up? last error: " + last.ToString());
}

Status PsClient::ScatterReply(const PullPart& part, const net::RpcReply& reply, float* rows_out,
                              PullStats* stats) {
  const Shard& shard = shards_[part.shard];
  const size_t n = part.end - part.begin;
  const int dim = options_.dim;
  auto malformed = [&](const std::string& what) {
    return DataLossError(options_.name + ": malformed pull reply from " +
                         Describe(shard, shard.replicas[part.replica]) + ": " + what);
  };
  if (reply.header.body_case() != proto::Envelope::kPullResponse) {
    return malformed("not a pull response");
  }
  const proto::PullResponse& response = reply.header.pull_response();
  if (response.dim() != dim) {
    return malformed("rows of dim " + std::to_string(response.dim()) + ", expected " +
                     std::to_string(dim) + " (is the server on another model?)");
  }
  const int dtype_code = response.row_dtype();
  if (dtype_code < 0 || dtype_code > static_cast<int>(embedding::RowDtype::kInt8)) {
    return malformed("unknown row encoding " + std::to_string(dtype_code) +
                     " (is the server a newer version?)");
  }
  const auto dtype = static_cast<embedding::RowDtype>(dtype_code);
  const size_t row_bytes = embedding::EncodedRowBytes(dim, dtype);
  if (response.num_keys() != n || reply.payload.size() != 1 ||
      reply.payload[0].size() != n * row_bytes) {
    return malformed(std::to_string(response.num_keys()) + " keys in " +
                     std::to_string(reply.payload.size()) + " frames of " +
                     (reply.payload.empty() ? std::string("0")
                                            : std::to_string(reply.payload[0].size())) +
                     " bytes, expected " + std::to_string(n) + " keys in 1 frame of " +
                     std::to_string(n * row_bytes) + " bytes (" +
                     embedding::RowDtypeName(dtype) + " rows)");
  }
  const char* rows = reply.payload[0].data();
  const size_t* positions = shard.positions.data() + part.begin;
  if (shard.identity) {
    // The request's keys in order: one decode (a memcpy for float32).
    embedding::DecodeRows(rows, n, dim, dtype, rows_out + part.begin * dim);
  } else if (dtype == embedding::RowDtype::kFloat32) {
    const size_t float_bytes = static_cast<size_t>(dim) * sizeof(float);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(rows_out + positions[i] * dim, rows + i * row_bytes, float_bytes);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      embedding::DecodeRows(rows + i * row_bytes, 1, dim, dtype, rows_out + positions[i] * dim);
    }
  }
  stats->missing += response.missing();
  stats->bytes += reply.payload[0].size();
  return Status::Ok();
}

void PsClient::AbandonInFlight() {
  for (Shard& shard : shards_) {
    if (shard.in_flight) {
      DropConnection(&shard.replicas[shard.replica]);
      shard.in_flight = false;
    }
  }
  for (PullPart& part : pull_parts_) {
    if (!part.in_flight) continue;
    Replica& replica = shards_[part.shard].replicas[part.replica];
    if (replica.generation == part.generation) DropConnection(&replica);
    part.in_flight = false;
  }
}

PsClient::Shard& PsClient::ShardFor(uint64_t key) {
  const int num_shards = static_cast<int>(shards_.size());
  return shards_[num_shards == 1 ? 0 : ShardOfKey(key, num_shards)];
}

void PsClient::ClearScratch() {
  for (Shard& shard : shards_) {
    shard.keys.clear();
    shard.positions.clear();
    shard.grads.clear();
  }
}

Status PsClient::Pull(const uint64_t* keys, size_t n, float* rows_out, PullStats* stats) {
  PullStats local;
  PullStats* s = stats != nullptr ? stats : &local;
  *s = PullStats();
  s->keys = n;
  if (shards_.empty()) {
    return FailedPreconditionError(options_.name + ": PsClient::Pull before a successful Connect()");
  }
  const auto start = std::chrono::steady_clock::now();
  const size_t dim = static_cast<size_t>(options_.dim);
  ClearScratch();
  if (shards_.size() == 1 && cache_ == nullptr) {
    // The common case needs no split at all.
    Shard& shard = shards_[0];
    shard.keys.assign(keys, keys + n);
    shard.identity = true;
  } else {
    constexpr size_t kAhead = 16;
    if (cache_ != nullptr) {
      for (size_t i = 0; i < std::min(n, kAhead); ++i) cache_->Prefetch(keys[i]);
    }
    for (size_t i = 0; i < n; ++i) {
      if (cache_ != nullptr) {
        if (i + kAhead < n) cache_->Prefetch(keys[i + kAhead]);
        const float* cached = cache_->Find(keys[i]);
        if (cached != nullptr) {
          std::memcpy(rows_out + i * dim, cached, dim * sizeof(float));
          ++s->cache_hits;
          continue;
        }
      }
      Shard& shard = ShardFor(keys[i]);
      shard.keys.push_back(keys[i]);
      shard.positions.push_back(i);
    }
    for (Shard& shard : shards_) shard.identity = shard.keys.size() == n;
  }

  // Send every request first, then await each in order: all shards work at
  // once, and each server looks up its next request while the rows of the
  // one before are on their way here.
  PlanPullParts();
  Status status;
  for (PullPart& part : pull_parts_) {
    Status sent = SendPull(&part, s);
    if (!sent.ok() && !IsRetryable(sent)) {
      const Shard& shard = shards_[part.shard];
      status = sent.WithContext(options_.name + ": pull from " +
                                Describe(shard, shard.replicas[part.replica]));
      break;
    }
    // A retryable send failure is retried by AwaitPull (in_flight is false).
  }
  if (status.ok()) {
    for (PullPart& part : pull_parts_) {
      status = AwaitPull(&part, rows_out, s);
      if (!status.ok()) break;
    }
  }
  if (status.ok()) {
    keys_looked_up_ += n - s->cache_hits;
    keys_missing_ += s->missing;
  }
  if (!status.ok()) {
    AbandonInFlight();
  } else if (cache_ != nullptr) {
    for (const Shard& shard : shards_) {
      for (size_t i = 0; i < shard.keys.size(); ++i) {
        const size_t position = shard.identity ? i : shard.positions[i];
        cache_->Insert(shard.keys[i], rows_out + position * dim);
      }
    }
  }
  if (cache_ != nullptr) s->cache_hit_rate = cache_->hit_rate();
  s->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return status;
}

Status PsClient::SendPush(Shard* shard, PushStats* stats) {
  Replica& replica = shard->replicas[0];
  shard->replica = 0;
  if (replica.rpc == nullptr) IAK_RETURN_IF_ERROR(Reconnect(&replica));
  proto::Envelope request;
  proto::PushRequest* push = request.mutable_push_request();
  push->set_num_keys(shard->keys.size());
  push->set_snapshot_id(options_.snapshot_id);
  const size_t key_bytes = shard->keys.size() * sizeof(uint64_t);
  const size_t grad_bytes = shard->grads.size() * sizeof(float);
  std::vector<net::Frame> payload;
  payload.emplace_back(reinterpret_cast<const char*>(shard->keys.data()), key_bytes);
  payload.emplace_back(reinterpret_cast<const char*>(shard->grads.data()), grad_bytes);
  StatusOr<uint64_t> id = replica.rpc->Send(std::move(request), std::move(payload));
  ++stats->requests;
  IAK_RETURN_IF_ERROR(id.status());
  stats->bytes += key_bytes + grad_bytes;
  shard->request_id = *id;
  shard->in_flight = true;
  return Status::Ok();
}

Status PsClient::AwaitPush(Shard* shard, PushStats* stats) {
  Replica& replica = shard->replicas[0];
  StatusOr<net::RpcReply> reply =
      replica.rpc->Await(shard->request_id, Deadline::After(options_.push_timeout));
  shard->in_flight = false;
  if (!reply.ok()) {
    // A late reply must not be mistaken for the next request's.
    if (IsRetryable(reply.status())) DropConnection(&replica);
    return reply.status();
  }
  if (reply->header.body_case() != proto::Envelope::kPushResponse) {
    return DataLossError("malformed push reply: not a push response");
  }
  stats->applied += reply->header.push_response().applied();
  stats->created += reply->header.push_response().created();
  return Status::Ok();
}

Status PsClient::CheckWritable(const std::string& method, const std::string& what) const {
  if (shards_.empty()) {
    return FailedPreconditionError(options_.name + ": PsClient::" + method +
                                   " before a successful Connect()");
  }
  for (const Shard& shard : shards_) {
    if (shard.replicas.size() > 1) {
      return FailedPreconditionError(
          options_.name + ": cannot " + what + " " + DescribeAll(shard) +
          ": trainable parameter servers take exactly one server per shard (a write to them "
          "is not replicated and never fails over); set replicas_per_shard to 1 for "
          "trainable jobs");
    }
  }
  if (cache_ != nullptr) {
    return FailedPreconditionError(
        options_.name + ": cannot " + what + " the servers with a row cache: cached rows "
        "would go stale once the servers update them; set row_cache_bytes to 0 for trainable "
        "jobs");
  }
  return Status::Ok();
}

Status PsClient::SnapshotOverlay(const std::string& tag, OverlayStats* stats) {
  return OverlayCall(/*restore=*/false, tag, stats);
}

Status PsClient::RestoreOverlay(const std::string& tag, OverlayStats* stats) {
  return OverlayCall(/*restore=*/true, tag, stats);
}

Status PsClient::OverlayCall(bool restore, const std::string& tag, OverlayStats* stats) {
  OverlayStats local;
  OverlayStats* s = stats != nullptr ? stats : &local;
  *s = OverlayStats();
  const std::string what = restore ? "restore the overlay of" : "snapshot the overlay of";
  IAK_RETURN_IF_ERROR(
      CheckWritable(restore ? "RestoreOverlay" : "SnapshotOverlay", what));
  const auto start = std::chrono::steady_clock::now();
  auto context = [&](const Shard& shard) {
    return options_.name + ": " + (restore ? "overlay restore" : "overlay snapshot") +
           (tag.empty() ? std::string() : " '" + tag + "'") + " on " +
           Describe(shard, shard.replicas[0]);
  };
  // Every shard, all at once: each holds part of the overlay.
  Status status;
  for (Shard& shard : shards_) {
    Replica& replica = shard.replicas[0];
    shard.replica = 0;
    if (replica.rpc == nullptr) {
      status = Reconnect(&replica);
      if (!status.ok()) {
        status = status.WithContext(context(shard));
        break;
      }
    }
    proto::Envelope request;
    if (restore) {
      request.mutable_overlay_restore_request()->set_tag(tag);
      request.mutable_overlay_restore_request()->set_snapshot_id(options_.snapshot_id);
    } else {
      request.mutable_overlay_snapshot_request()->set_tag(tag);
      request.mutable_overlay_snapshot_request()->set_snapshot_id(options_.snapshot_id);
    }
    StatusOr<uint64_t> id = replica.rpc->Send(std::move(request), {});
    ++s->requests;
    if (!id.ok()) {
      status = id.status().WithContext(context(shard));
      break;
    }
    shard.request_id = *id;
    shard.in_flight = true;
  }
  if (status.ok()) {
    for (Shard& shard : shards_) {
      Replica& replica = shard.replicas[0];
      StatusOr<net::RpcReply> reply =
          replica.rpc->Await(shard.request_id, Deadline::After(options_.push_timeout));
      shard.in_flight = false;
      if (!reply.ok()) {
        // A late reply must not be mistaken for the next request's.
        if (IsRetryable(reply.status())) DropConnection(&replica);
        status = reply.status().WithContext(context(shard));
        break;
      }
      const proto::Envelope& header = reply->header;
      if (restore && header.body_case() == proto::Envelope::kOverlayRestoreResponse) {
        s->rows += header.overlay_restore_response().rows();
        s->rows_discarded += header.overlay_restore_response().rows_discarded();
      } else if (!restore && header.body_case() == proto::Envelope::kOverlaySnapshotResponse) {
        s->rows += header.overlay_snapshot_response().rows();
        s->bytes += header.overlay_snapshot_response().bytes();
      } else {
        status = DataLossError(context(shard) + ": malformed reply: not an " +
                               (restore ? "overlay restore" : "overlay snapshot") + " response");
        break;
      }
    }
  }
  if (!status.ok()) AbandonInFlight();
  s->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return status;
}

Status PsClient::Push(const uint64_t* keys, size_t n, const float* grads, PushStats* stats) {
  PushStats local;
  PushStats* s = stats != nullptr ? stats : &local;
  *s = PushStats();
  s->keys = n;
  IAK_RETURN_IF_ERROR(CheckWritable("Push", "push to"));
  if (n == 0) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  const size_t dim = static_cast<size_t>(options_.dim);
  ClearScratch();
  for (size_t i = 0; i < n; ++i) {
    Shard& shard = ShardFor(keys[i]);
    shard.keys.push_back(keys[i]);
    shard.grads.insert(shard.grads.end(), grads + i * dim, grads + (i + 1) * dim);
  }
  Status status;
  for (Shard& shard : shards_) {
    if (shard.keys.empty()) continue;
    status = SendPush(&shard, s);
    if (!status.ok()) {
      status = status.WithContext(options_.name + ": push to " + Describe(shard, shard.replicas[0]));
      break;
    }
  }
  if (status.ok()) {
    for (Shard& shard : shards_) {
      if (!shard.in_flight) continue;
      status = AwaitPush(&shard, s);
      if (!status.ok()) {
        status = status.WithContext(options_.name + ": push of " +
                                    std::to_string(shard.keys.size()) + " keys to " +
                                    Describe(shard, shard.replicas[0]));
        break;
      }
    }
  }
  if (!status.ok()) AbandonInFlight();
  s->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return status;
}

}  // namespace iak::ps
