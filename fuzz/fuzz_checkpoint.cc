// Checkpoint files (worker/checkpoint.h): magic, header length, a
// CheckpointHeader, the body and a CRC-32C. Any file reads as a checkpoint
// or a DataLoss error; what reads must write back and read equal.
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "worker/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using iak::worker::Checkpoint;
  iak::fuzz::CheckFileRoundTrip(
      "ckpt.iakc", data, size, iak::worker::ReadCheckpointFile,
      [](const Checkpoint& c, const std::string& path) {
        return iak::worker::WriteCheckpointFile(path, c);
      },
      [](const Checkpoint& a, const Checkpoint& b) {
        return a.domains.size() == b.domains.size();
      });
  return 0;
}
