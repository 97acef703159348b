// Model blobs read from disk: the base model's dense weights
// (BaseModel::Deserialize), adapter files (IakModule::Deserialize) and Adam
// state inside checkpoints (Adam::Deserialize). The first byte picks one.
#include <cstdint>
#include <string_view>

#include "model/adam.h"
#include "model/base_model.h"
#include "model/iak_module.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view blob(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)iak::model::BaseModel::Deserialize(blob);
      break;
    case 1:
      (void)iak::model::IakModule::Deserialize(blob);
      break;
    default: {
      iak::model::Adam adam(16, iak::model::AdamOptions());
      (void)adam.Deserialize(blob);
    }
  }
  return 0;
}
