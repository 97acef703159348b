// Binary data shards (data/shard_file.h): any file, mapped with and without
// verification; what opens is read in full (AppendTo), which must fail
// cleanly or succeed with a consistent dataset (fuzz/dataset_invariants.h).
// The same bytes are also decoded as one compact block (data/shard_block.h)
// of 3 fields, past the checksums that guard it in a file.
#include <cstdint>

#include "data/shard_block.h"
#include "data/shard_file.h"
#include "fuzz/dataset_invariants.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = iak::fuzz::WriteScratch(
      "shard.iaks", std::string_view(reinterpret_cast<const char*>(data), size));
  for (bool verify : {true, false}) {
    auto shard = iak::data::MappedShard::Open(path, verify);
    if (!shard.ok()) continue;
    iak::data::Dataset out;
    for (const auto& field : (*shard)->meta().fields()) {
      out.fields.push_back({field.name(), field.multi_valued(), iak::data::Pooling::kSum});
    }
    for (const auto& name : (*shard)->meta().domain_names()) out.domain_names.push_back(name);
    if ((*shard)->AppendTo(&out).ok()) {
      iak::fuzz::AbortUnlessConsistent(out, out.domain_names.size());
    }
  }
  iak::data::Dataset block;
  block.fields = {{"a", false, iak::data::Pooling::kSum},
                  {"b", true, iak::data::Pooling::kSum},
                  {"c", false, iak::data::Pooling::kSum}};
  block.domain_names = {"d0", "d1"};
  const size_t samples = size > 0 ? data[0] % 64 : 0;
  if (iak::data::DecodeShardBlock(reinterpret_cast<const char*>(data), size, samples,
                                  size > 1 && (data[1] & 1), &block)
          .ok()) {
    iak::fuzz::AbortUnlessConsistent(block, block.domain_names.size());
  }
  return 0;
}
