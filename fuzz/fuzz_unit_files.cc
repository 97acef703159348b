// The files a fine-tuned unit leaves next to its adapter and that `iak eval`,
// `iak predict`, the exports and iakps read back: new-key rows
// (<unit>.rows, NewKeyRows::Parse) and key biases (<unit>.bias,
// KeyBiases::Parse). The first byte picks one. Whatever parses serializes to
// the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "worker/key_biases.h"
#include "worker/new_key_rows.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view blob(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    iak::StatusOr<iak::worker::NewKeyRows> rows = iak::worker::NewKeyRows::Parse(blob, nullptr);
    if (rows.ok() && rows->Serialize() != blob) std::abort();
  } else {
    iak::StatusOr<iak::worker::KeyBiases> biases = iak::worker::KeyBiases::Parse(blob);
    if (biases.ok() && biases->Serialize() != blob) std::abort();
  }
  return 0;
}
