// Every request a parameter server accepts (pull, push, and any other
// envelope body), sent by a fuzzed peer over the in-process transport to a
// frozen and to a trainable server holding a small model. The server must
// answer each with a reply or an error reply and keep serving: no crash, no
// hang (each exchange waits at most 2 s, then aborts as a hang).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "fuzz/tiny_model.h"
#include "net/inproc_transport.h"
#include "net/rpc.h"
#include "ps/ps_server.h"

namespace {

using iak::Deadline;
using iak::Duration;

struct Servers {
  iak::net::InProcTransport transport;
  std::unique_ptr<iak::ps::PsServer> frozen, trainable;
  std::atomic<bool> stop{false};
  std::thread frozen_thread, trainable_thread;
  std::unique_ptr<iak::net::Connection> to_frozen, to_trainable;
};

Servers* Start() {
  auto* s = new Servers;
  const std::string dir = iak::fuzz::ScratchDir() + "/model";
  iak::fuzz::WriteTinyModel(dir, 64, 1);
  iak::ps::PsServerOptions options;
  options.model_dir = dir;
  options.listen_address = "inproc://fuzz-frozen";
  options.name = "ps-frozen";
  s->frozen = std::make_unique<iak::ps::PsServer>(options, &s->transport);
  options.listen_address = "inproc://fuzz-trainable";
  options.name = "ps-trainable";
  options.trainable.enabled = true;
  options.trainable.output_model_dir = iak::fuzz::ScratchDir() + "/trained";
  s->trainable = std::make_unique<iak::ps::PsServer>(options, &s->transport);
  if (!s->frozen->Start().ok() || !s->trainable->Start().ok()) std::abort();
  s->frozen_thread = std::thread([s] { (void)s->frozen->Run(s->stop); });
  s->trainable_thread = std::thread([s] { (void)s->trainable->Run(s->stop); });
  auto to_frozen = s->transport.Connect(s->frozen->address());
  auto to_trainable = s->transport.Connect(s->trainable->address());
  if (!to_frozen.ok() || !to_trainable.ok()) std::abort();
  s->to_frozen = std::move(to_frozen).value();
  s->to_trainable = std::move(to_trainable).value();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Servers* servers = Start();
  if (size == 0) return 0;
  iak::net::Connection* to = (data[0] & 1) ? servers->to_trainable.get() : servers->to_frozen.get();
  iak::net::Message message;
  const std::vector<std::string> frames = iak::fuzz::SplitFrames(data + 1, size - 1);
  message.frames.assign(frames.begin(), frames.end());
  if (!to->Send(std::move(message)).ok()) std::abort();
  // A garbled header gets no reply (there is no request id to answer);
  // everything else gets one. Either way the server must still answer a
  // well-formed pull sent right after: its reply follows the fuzzed one.
  iak::proto::Envelope probe;
  probe.set_request_id(~uint64_t{0});
  probe.mutable_pull_request()->set_num_keys(1);
  const uint64_t key = 3;
  iak::net::Message ping = iak::net::EncodeMessage(
      probe, {std::string(reinterpret_cast<const char*>(&key), sizeof(key))});
  if (!to->Send(std::move(ping)).ok()) std::abort();
  for (int i = 0; i < 4; ++i) {
    iak::net::Message answer;
    if (!to->Receive(&answer, Deadline::After(Duration(2000))).ok()) {
      std::fprintf(stderr, "the server stopped answering\n");
      std::abort();
    }
    iak::proto::Envelope header;
    if (!answer.frames.empty() && header.ParseFromString(answer.frames[0].ToString()) &&
        header.request_id() == ~uint64_t{0}) {
      return 0;
    }
  }
  std::abort();
}
