#include "ps/ps_client.h"

#include <cstring>
#include <utility>

#include "common/keys.h"

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

std::string PsClient::Describe(const Shard& shard) const {
  std::string text = "shard " + std::to_string(shard.server.shard()) + " at " + shard.server.address();
  if (!shard.server.name().empty()) text += " (" + shard.server.name() + ")";
  return text;
}

Status PsClient::Connect() {
  const int num_shards = static_cast<int>(options_.servers.size());
  if (num_shards == 0) return InvalidArgumentError(options_.name + ": no parameter servers given");
  if (options_.dim <= 0) {
    return InvalidArgumentError(options_.name + ": embedding dim must be positive, got " +
                                std::to_string(options_.dim));
  }
  if (options_.max_attempts < 1) {
    return InvalidArgumentError(options_.name + ": max_attempts must be at least 1, got " +
                                std::to_string(options_.max_attempts));
  }
  std::vector<Shard> shards(num_shards);
  std::vector<bool> seen(num_shards, false);
  for (const proto::ServerAddress& server : options_.servers) {
    const int s = server.shard();
    if (s < 0 || s >= num_shards) {
      return InvalidArgumentError(options_.name + ": server " + server.address() + " has shard " +
                                  std::to_string(s) + ", outside 0.." +
                                  std::to_string(num_shards - 1));
    }
    if (seen[s]) {
      return InvalidArgumentError(options_.name + ": shard " + std::to_string(s) +
                                  " is listed twice (" + shards[s].server.address() + " and " +
                                  server.address() + ")");
    }
    seen[s] = true;
    shards[s].server = server;
  }
  shards_ = std::move(shards);
  for (Shard& shard : shards_) IAK_RETURN_IF_ERROR(Reconnect(&shard));
  return Status::Ok();
}

Status PsClient::Reconnect(Shard* shard) {
  shard->rpc.reset();
  shard->in_flight = false;
  StatusOr<std::unique_ptr<net::Connection>> connection =
      transport_->Connect(shard->server.address());
  if (!connection.ok()) {
    return UnavailableError(options_.name + ": cannot connect to " + Describe(*shard) + ": " +
                            connection.status().ToString());
  }
  shard->rpc = std::make_unique<net::RpcClient>(std::move(connection).value(), options_.name);
  return Status::Ok();
}

Status PsClient::SendPull(Shard* shard, PullStats* stats) {
  shard->send_error = Status::Ok();
  if (shard->rpc == nullptr) {
    shard->send_error = Reconnect(shard);
    IAK_RETURN_IF_ERROR(shard->send_error);
  }
  proto::Envelope request;
  proto::PullRequest* pull = request.mutable_pull_request();
  pull->set_num_keys(shard->positions.size());
  pull->set_snapshot_id(options_.snapshot_id);
  std::vector<std::string> payload;
  payload.push_back(shard->key_frame);  // copied: kept for a retry
  StatusOr<uint64_t> id = shard->rpc->Send(std::move(request), std::move(payload));
  ++stats->requests;
  if (!id.ok()) {
    shard->send_error = id.status();
    return id.status();
  }
  stats->bytes += shard->key_frame.size();
  shard->request_id = *id;
  shard->in_flight = true;
  return Status::Ok();
}

Status PsClient::AwaitPull(Shard* shard, float* rows_out, PullStats* stats) {
  Deadline deadline = Deadline::After(options_.pull_timeout);
  Status last = shard->send_error;
  for (int attempt = 1;; ++attempt) {
    if (shard->in_flight) {
      StatusOr<net::RpcReply> reply = shard->rpc->Await(shard->request_id, deadline);
      shard->in_flight = false;
      if (reply.ok()) return ScatterReply(*shard, *reply, rows_out, stats);
      last = reply.status();
      if (!IsRetryable(last)) {
        return last.WithContext(options_.name + ": pull from " + Describe(*shard));
      }
    }
    if (attempt >= options_.max_attempts) break;
    LOG(WARNING) << options_.name << ": pull from " << Describe(*shard) << " failed (" << last
                 << "); retrying on a new connection (attempt " << attempt + 1 << " of "
                 << options_.max_attempts << ")";
    ++stats->retries;
    deadline = Deadline::After(options_.pull_timeout);
    last = Reconnect(shard);
    if (last.ok()) last = SendPull(shard, stats);
    if (!last.ok() && !IsRetryable(last)) {
      return last.WithContext(options_.name + ": pull from " + Describe(*shard));
    }
  }
  shard->rpc.reset();  // whatever it still carries is stale
  return UnavailableError(options_.name + ": " + Describe(*shard) + " did not answer a pull of " +
                          std::to_string(shard->positions.size()) + " keys in " +
                          std::to_string(options_.max_attempts) + " attempts of " +
                          std::to_string(options_.pull_timeout.count()) +
                          " ms; is the server up? last error: " + last.ToString());
}

Status PsClient::ScatterReply(const Shard& shard, const net::RpcReply& reply, float* rows_out,
                              PullStats* stats) const {
  const size_t n = shard.positions.size();
  const size_t row_bytes = static_cast<size_t>(options_.dim) * sizeof(float);
  auto malformed = [&](const std::string& what) {
    return DataLossError(options_.name + ": malformed pull reply from " + Describe(shard) + ": " +
                         what);
  };
  if (reply.header.body_case() != proto::Envelope::kPullResponse) {
    return malformed("not a pull response");
  }
  const proto::PullResponse& response = reply.header.pull_response();
  if (response.dim() != options_.dim) {
    return malformed("rows of dim " + std::to_string(response.dim()) + ", expected " +
                     std::to_string(options_.dim) + " (is the server on another model?)");
  }
  if (response.num_keys() != n || reply.payload.size() != 1 ||
      reply.payload[0].size() != n * row_bytes) {
    return malformed(std::to_string(response.num_keys()) + " keys in " +
                     std::to_string(reply.payload.size()) + " frames of " +
                     (reply.payload.empty() ? std::string("0")
                                            : std::to_string(reply.payload[0].size())) +
                     " bytes, expected " + std::to_string(n) + " keys in 1 frame of " +
                     std::to_string(n * row_bytes) + " bytes");
  }
  const char* rows = reply.payload[0].data();
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(rows_out + shard.positions[i] * options_.dim, rows + i * row_bytes, row_bytes);
  }
  stats->missing += response.missing();
  stats->bytes += reply.payload[0].size();
  return Status::Ok();
}

void PsClient::AbandonInFlight() {
  for (Shard& shard : shards_) {
    if (shard.in_flight) {
      shard.rpc.reset();
      shard.in_flight = false;
    }
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
  const int num_shards = static_cast<int>(shards_.size());
  for (Shard& shard : shards_) {
    shard.key_frame.clear();
    shard.positions.clear();
  }
  for (size_t i = 0; i < n; ++i) {
    Shard& shard = shards_[ShardOfKey(keys[i], num_shards)];
    shard.key_frame.append(reinterpret_cast<const char*>(&keys[i]), sizeof(uint64_t));
    shard.positions.push_back(i);
  }

  // Send to every shard first, then await each: all shards work at once.
  Status status;
  for (Shard& shard : shards_) {
    if (shard.positions.empty()) continue;
    Status sent = SendPull(&shard, s);
    if (!sent.ok() && !IsRetryable(sent)) {
      status = sent.WithContext(options_.name + ": pull from " + Describe(shard));
      break;
    }
    // A retryable send failure is retried by AwaitPull (in_flight is false).
  }
  if (status.ok()) {
    for (Shard& shard : shards_) {
      if (shard.positions.empty()) continue;
      status = AwaitPull(&shard, rows_out, s);
      if (!status.ok()) break;
    }
  }
  if (!status.ok()) AbandonInFlight();
  s->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return status;
}

}  // namespace iak::ps
