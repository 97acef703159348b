// Value frames: what a worker's PsClient does with a parameter server's
// pull reply (header checks, then row frames decoded as float32, float16 or
// int8 and scattered to the request's order). A fuzzed server answers one
// pull; the client must return rows or an error, never read out of bounds.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "net/inproc_transport.h"
#include "net/rpc.h"
#include "ps/ps_client.h"

namespace {

struct Fixture {
  iak::net::InProcTransport transport;
  std::unique_ptr<iak::net::Listener> listener;
};

Fixture* Make() {
  auto* f = new Fixture;
  auto listener = f->transport.Listen("inproc://fake-ps");
  if (!listener.ok()) std::abort();
  f->listener = std::move(listener).value();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = Make();
  if (size < 2) return 0;
  const size_t num_keys = 1 + data[0] % 8;
  const bool two_shards = (data[1] & 1) != 0;
  iak::ps::PsClientOptions options;
  options.dim = 4;
  options.pull_timeout = iak::Duration(50);  // a reply it cannot use costs this
  options.max_attempts = 1;
  options.cache_bytes = (data[1] & 2) ? 4096 : 0;
  iak::proto::ServerAddress server;
  server.set_shard(0);
  server.set_address(f->listener->address());
  options.servers.push_back(server);
  if (two_shards) {
    server.set_shard(1);  // the same fake answers both shards
    options.servers.push_back(server);
  }
  iak::ps::PsClient client(options, &f->transport);
  if (!client.Connect().ok()) std::abort();
  const std::vector<std::string> reply_frames = iak::fuzz::SplitFrames(data + 2, size - 2);
  // Answers every request until the pull is over (with two shards the keys
  // may all fall in one, so the number of requests is not known).
  std::atomic<bool> done{false};
  std::thread responder([&] {
    while (!done.load()) {
      iak::net::Incoming incoming;
      if (!f->listener->Receive(&incoming, iak::Deadline::After(iak::Duration(2))).ok()) continue;
      iak::proto::Envelope request;
      if (!request.ParseFromString(incoming.message.frames[0].ToString())) std::abort();
      iak::net::Message reply;
      reply.frames.assign(reply_frames.begin(), reply_frames.end());
      // Frame 0 that is no envelope would only cost a timeout: a pull
      // response of the input's first bytes' shape stands in for it, so the
      // row frames are always decoded.
      iak::proto::Envelope header;
      if (reply.frames.empty()) reply.frames.emplace_back();
      if (!header.ParseFromString(reply.frames[0].ToString())) {
        header.Clear();
        const std::string f0 = reply.frames[0].ToString();
        iak::proto::PullResponse* r = header.mutable_pull_response();
        r->set_num_keys(f0.size() > 0 ? static_cast<uint8_t>(f0[0]) % 10 : 1);
        r->set_dim(f0.size() > 1 && f0[1] == 'd' ? 3 : 4);
        r->set_row_dtype(f0.size() > 2 ? static_cast<uint8_t>(f0[2]) % 4 : 0);
        r->set_missing(f0.size() > 3 ? static_cast<uint8_t>(f0[3]) : 0);
      }
      header.set_request_id(request.request_id());  // answer this request
      reply.frames[0] = header.SerializeAsString();
      (void)f->listener->Send(incoming.from, std::move(reply));
    }
  });
  std::vector<uint64_t> keys(num_keys);
  for (size_t i = 0; i < num_keys; ++i) keys[i] = 11 * i + 1;
  std::vector<float> rows(num_keys * 4);
  iak::ps::PullStats stats;
  (void)client.Pull(keys.data(), keys.size(), rows.data(), &stats);
  done.store(true);
  responder.join();
  return 0;
}
