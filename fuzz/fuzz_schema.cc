// Data schemas (data/schema.h): any text compiles or is refused, and never
// expands into more than kMaxSchemaColumns columns.
#include <cstdint>
#include <cstdlib>

#include "data/schema.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = iak::fuzz::WriteScratch(
      "s.schema.pbtxt", std::string_view(reinterpret_cast<const char*>(data), size));
  auto schema = iak::data::LoadSchema(path);
  if (schema.ok() && schema->columns.size() > static_cast<size_t>(iak::data::kMaxSchemaColumns)) {
    std::abort();
  }
  return 0;
}
