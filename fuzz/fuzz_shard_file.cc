// Binary data shards (data/shard_file.h): any file, mapped with and without
// verification; what opens must be readable in full (AppendTo).
#include <cstdint>

#include "data/shard_file.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = iak::fuzz::WriteScratch(
      "shard.iaks", std::string_view(reinterpret_cast<const char*>(data), size));
  auto shard = iak::data::MappedShard::Open(path, /*verify=*/true);
  if (shard.ok()) {
    iak::data::Dataset out;
    for (const auto& field : (*shard)->meta().fields()) {
      out.fields.push_back({field.name(), field.multi_valued(), iak::data::Pooling::kSum});
    }
    (*shard)->AppendTo(&out);
  }
  (void)iak::data::MappedShard::Open(path, /*verify=*/false);
  return 0;
}
