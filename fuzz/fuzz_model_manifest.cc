// A model directory's MANIFEST.pbtxt (embedding/manifest_io.h): parse and
// validate; a manifest that validates is then opened as a model directory
// (whose shards do not exist here) without allocating by its claims.
#include <cstdint>

#include "embedding/manifest_io.h"
#include "embedding/model_directory.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The scratch directory exists before the first manifest is written into it.
  static const bool made = [] {
    iak::fuzz::WriteScratch("directory-made", "");
    return true;
  }();
  (void)made;
  const std::string dir = iak::fuzz::ScratchDir();
  iak::fuzz::WriteScratch("MANIFEST.pbtxt",
                          std::string_view(reinterpret_cast<const char*>(data), size));
  auto manifest = iak::embedding::ReadManifest(dir);
  if (manifest.ok()) (void)iak::embedding::LoadModelDirectory(dir);
  return 0;
}
