// A shard set's manifest.pbtxt (data/shard_set.h), read with ReadShardSet:
// text format, its fields and counts, then the shard files it names (none
// exist here, or one tiny valid set when the input names it).
#include <cstdint>

#include "data/shard_set.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = iak::fuzz::WriteScratch(
      "manifest.pbtxt", std::string_view(reinterpret_cast<const char*>(data), size));
  (void)iak::data::ReadShardManifest(path);
  (void)iak::data::ReadShardSet(path, 0, 1);
  (void)iak::data::ReadShardSet(path, 1, 2);
  return 0;
}
