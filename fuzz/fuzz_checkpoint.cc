// Checkpoint files (worker/checkpoint.h): magic, header length, a
// CheckpointHeader, the body and a CRC-32C. Any file reads as a checkpoint
// or a DataLoss error; what reads must write back and read equal.
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "worker/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = iak::fuzz::WriteScratch(
      "ckpt.iakc", std::string_view(reinterpret_cast<const char*>(data), size));
  auto checkpoint = iak::worker::ReadCheckpointFile(path);
  if (!checkpoint.ok()) return 0;
  const std::string again = iak::fuzz::ScratchDir() + "/again.iakc";
  if (!iak::worker::WriteCheckpointFile(again, *checkpoint).ok()) std::abort();
  auto back = iak::worker::ReadCheckpointFile(again);
  if (!back.ok() || back->domains.size() != checkpoint->domains.size()) std::abort();
  return 0;
}
