// The wire envelope: frame 0 a proto::Envelope, frames 1.. raw payloads
// (net::DecodeMessage, used by every RPC client and server). A decoded
// message must re-encode and decode to the same body.
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "net/rpc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  iak::net::Message message;
  const std::vector<std::string> frames = iak::fuzz::SplitFrames(data, size);
  message.frames.assign(frames.begin(), frames.end());
  iak::proto::Envelope header;
  std::vector<iak::net::Frame> payload;
  if (!iak::net::DecodeMessage(message, "fuzz", &header, &payload).ok()) return 0;
  iak::net::Message again = iak::net::EncodeMessage(header, payload);
  iak::proto::Envelope header2;
  std::vector<iak::net::Frame> payload2;
  if (!iak::net::DecodeMessage(std::move(again), "fuzz", &header2, &payload2).ok()) std::abort();
  if (header2.body_case() != header.body_case() || payload2 != payload) std::abort();
  return 0;
}
